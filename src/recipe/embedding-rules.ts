/**
 * Cross-field rules of loss.matryoshka, model.prompts, model.default_prompt_name and
 * training.prompts, with the same `dotted.path: message` problems as ./rules.ts. That the
 * Matryoshka dims fit the model's embedding size is only known once the model has loaded
 * (src/training/trainer.ts checks it before the first step).
 */
import type { Recipe } from './types.js';

export function checkMatryoshkaAndPrompts(r: Recipe, problems: string[]): void {
  const m = r.loss.matryoshka;
  if (m) {
    if (r.task !== 'embedding') problems.push(`loss.matryoshka: only the embedding task trains embeddings, not task '${r.task}'`);
    if (m.weights !== null && m.weights.length !== m.dims.length) {
      problems.push(`loss.matryoshka.weights: ${m.weights.length} weight(s) for ${m.dims.length} dim(s); give one weight per dim (or leave weights out for 1 each)`);
    }
  }
  const prompts = r.model.prompts ?? {};
  const names = Object.keys(prompts);
  const known = names.length ? `model.prompts has ${names.join(', ')}` : 'model.prompts is empty';
  const d = r.model.default_prompt_name;
  if (d !== null && !Object.hasOwn(prompts, d)) problems.push(`model.default_prompt_name: '${d}' is not a name in model.prompts (${known})`);
  const t = r.training.prompts;
  if (t !== null && r.task !== 'embedding') problems.push(`training.prompts: only the embedding task prepends prompts to its text columns, not task '${r.task}'`);
  else if (t !== null) {
    if (t.length !== r.data.columns.texts.length) {
      problems.push(`training.prompts: ${t.length} prompt(s) for ${r.data.columns.texts.length} text column(s) (data.columns.texts); give one name (or null) per column`);
    }
    t.forEach((name, i) => {
      if (name !== null && !Object.hasOwn(prompts, name)) problems.push(`training.prompts[${i}]: '${name}' is not a name in model.prompts (${known})`);
    });
  }
}
