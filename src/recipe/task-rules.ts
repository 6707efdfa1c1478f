/**
 * Cross-field rules of the tasks other than `embedding` (see src/training/tasks.ts): each task
 * checks the keys it reads here, with the same `dotted.path: message` problems as ./rules.ts.
 * The rules every task shares (data files, output paths, schedule) stay in ./rules.ts.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Recipe } from './types.js';
import { checkClassificationRules } from './classification.js';

export function checkTaskRules(r: Recipe, problems: string[]): void {
  switch (r.task) {
    case 'embedding':
      return;
    case 'distill':
      checkDistill(r, problems);
      return;
    case 'mlm':
      checkMlm(r, problems);
      return;
    case 'classification':
      checkClassificationRules(r, problems);
      return;
    default:
      void problems;
      return;
  }
}

/**
 * Distillation reads texts (every text column; a label is only used to score dev / test pairs
 * for the teacher vs student comparison) and takes no loss: the loss is MSE to the teacher.
 */
function checkDistill(r: Recipe, problems: string[]): void {
  const t = r.distill.teacher;
  if (t !== null && isAbsolute(t) && !existsSync(t)) problems.push(`distill.teacher: folder not found: ${t}`);
  if (r.distill.student.layers !== null && t !== null && t !== r.model.base) {
    // Layer selection copies the teacher's layers; a separate student model has its own.
    problems.push('distill.student.layers: picks layers of model.base, which is then the teacher too; leave distill.teacher null (or drop the layer list to train model.base as it is)');
  }
  if (r.evaluation.monitor !== 'dev_loss') {
    problems.push(`evaluation.monitor: task distill evaluates dev_loss (MSE to the teacher) during training, got '${r.evaluation.monitor}'`);
  }
}

/** MLM reads texts only (no labels, no loss) and is watched by held-out perplexity. */
function checkMlm(r: Recipe, problems: string[]): void {
  if (Array.isArray(r.data.train)) problems.push('data.train: task mlm reads one file (a .txt file, one text a line, or a table with data.columns.texts)');
  if (r.data.test !== null) problems.push('data.test: task mlm uses data.dev or data.validation_split for held-out perplexity; a test file is not read');
  if (r.evaluation.monitor !== 'perplexity' && r.evaluation.monitor !== 'dev_loss') {
    problems.push(`evaluation.monitor: task mlm reports perplexity (and dev_loss, its log), got '${r.evaluation.monitor}'`);
  }
  if (r.data.dev === null && r.data.validation_split === 0 && r.evaluation.every_steps !== null) problems.push('evaluation.every_steps: needs held-out texts (data.dev or data.validation_split)');
}
