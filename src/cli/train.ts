/**
 * `sbert-train recipe.yaml [--resume [--allow-changed-data]]`: validate the recipe (exit 2 listing
 * every problem), train, save the tuned model and the run folder. A resume refuses data files
 * that changed since the checkpoint unless --allow-changed-data says to go on with them.
 * Ctrl-C writes a checkpoint and exits with code 3 (TrainingAborted); a second Ctrl-C exits at
 * once.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { initBackend, trainingEngine } from '../backend/index.js';
import { UserError } from '../errors.js';
import { loadRecipe } from '../recipe/index.js';
import { train } from '../training/index.js';
import { runTask } from '../training/tasks.js';

/**
 * Where a finished run's results are, one `label: path` a line: the model, the run folder, and
 * the report and TensorBoard folder when the run wrote them (the report needs a dev set).
 */
export function whereToLook(runDir: string, modelDir: string | null): string {
  const lines = [`model: ${modelDir}`, `run: ${runDir}`];
  const report = join(runDir, 'report.html');
  if (existsSync(report)) lines.push(`report: ${report}`);
  const tb = join(runDir, 'tensorboard');
  if (existsSync(tb)) lines.push(`tensorboard: ${tb} (tensorboard --logdir ${tb})`);
  return lines.join('\n') + '\n';
}

interface TrainArgs {
  recipe: string;
  resume: boolean;
  allowChangedData: boolean;
  backend: string;
}

/** Test hooks, read from the environment so tests can drive the real CLI process. */
function testHooks(): { nanAtStep?: number; stepDelayMs?: number; checkpointDelay?: { step: number; ms: number } } {
  const n = (k: string) => (process.env[k] ? Number(process.env[k]) : undefined);
  // SBERT_TEST_CHECKPOINT_DELAY=STEP:MS sleeps inside the save of checkpoint STEP, before its manifest.
  const cd = /^(\d+):(\d+)$/.exec(process.env.SBERT_TEST_CHECKPOINT_DELAY ?? '');
  return { nanAtStep: n('SBERT_TEST_NAN_AT_STEP'), stepDelayMs: n('SBERT_TEST_STEP_DELAY_MS'), checkpointDelay: cd ? { step: Number(cd[1]), ms: Number(cd[2]) } : undefined };
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: '$0 <recipe>',
  describe: 'train a model from a recipe YAML (the main job; see recipes/README.md)',
  builder: (y) =>
    y
      .positional('recipe', { type: 'string', demandOption: true, describe: 'recipe YAML file' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the newest complete checkpoint in the run folder' })
      .option('allow-changed-data', {
        type: 'boolean',
        default: false,
        describe: 'with --resume: continue although a data file (train/dev/test) changed since the checkpoint; the run then differs from an uninterrupted one',
      }) as never,
  handler: async (argv) => {
    if (argv.allowChangedData && !argv.resume) throw new UserError('--allow-changed-data: only means something with --resume');
    const recipe = loadRecipe(argv.recipe);
    await initBackend(argv.backend, { training: true });
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      interrupts += 1;
      if (interrupts > 1) process.exit(130);
      process.stderr.write('\ninterrupt: writing a checkpoint after this step (Ctrl-C again to quit at once)\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      if (recipe.task !== 'embedding') {
        const r = await runTask(recipe, { ...trainingEngine(), resume: argv.resume, allowChangedData: argv.allowChangedData, signal: controller.signal, test: testHooks() });
        process.stdout.write(`done: ${r.steps} steps; ${r.summary}\n${whereToLook(r.runDir, r.modelDir)}`);
        return;
      }
      const r = await train(recipe, { ...trainingEngine(), resume: argv.resume, allowChangedData: argv.allowChangedData, signal: controller.signal, test: testHooks() });
      const fmt = (m: Record<string, number> | null) => (m && recipe.evaluation.monitor in m ? m[recipe.evaluation.monitor].toFixed(4) : 'n/a');
      process.stdout.write(
        `done: ${r.steps} steps${r.stoppedEarly ? ' (stopped early)' : ''}; dev ${recipe.evaluation.monitor}: ${fmt(r.startMetrics)} before, ${fmt(r.finalMetrics)} after` +
          `${r.testMetrics ? `; test ${fmt(r.testMetrics)}` : ''}\n${whereToLook(r.runDir, r.modelDir)}`,
      );
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
