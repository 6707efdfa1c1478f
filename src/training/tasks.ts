/**
 * The recipe's `task`: what a run trains. `embedding` is the Siamese sentence encoder
 * (./trainer.ts `train`, the losses in src/losses); the domain-adaptation tasks each live in
 * their own module and are reached from here, so the CLI and library have one entry point.
 *
 *   mlm             masked-language-model pretraining on domain text   (./mlm.ts)
 *   distill         a student from a teacher's sentence embeddings     (./distill.ts)
 *   classification  a head on the sentence embedding                  (./classification.ts)
 */
import { ConfigError } from '../errors.js';
import type { Recipe, Task } from '../recipe/index.js';
import { runDistill } from './distill.js';
import { runMlm } from './mlm.js';
import { trainClassification } from './classification.js';
import type { TrainOptions } from './trainer.js';

/** What a non-embedding task's run leaves, for the CLI's closing lines. */
export interface TaskResult {
  runDir: string;
  modelDir: string | null;
  steps: number;
  /** One line: the task's headline numbers (e.g. "held-out perplexity 512.3 -> 88.1"). */
  summary: string;
}

/** Run a recipe whose task is not `embedding`. */
export async function runTask(recipe: Recipe, opts: TrainOptions = {}): Promise<TaskResult> {
  const task: Task = recipe.task;
  switch (task) {
    case 'embedding':
      throw new Error('internal: embedding recipes run through train()');
    case 'distill':
      return runDistill(recipe, opts);
    case 'mlm':
      return runMlm(recipe, opts);
    case 'classification':
      return trainClassification(recipe, opts);
    default:
      void opts;
      throw new ConfigError(`task: '${task}' is not available in this build`);
  }
}
