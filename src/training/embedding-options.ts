/**
 * What loss.matryoshka and the prompts of a recipe do to a run, outside the loss itself
 * (src/losses/matryoshka.ts):
 * - the model: its Matryoshka dims must fit its embedding size (checked once it has loaded),
 *   and model.prompts / model.default_prompt_name replace the prompts saved with it
 *   (config_sentence_transformers.json);
 * - the data: training.prompts names a prompt per text column, prepended to that column's
 *   texts in the training, dev and test sets alike, as sentence-transformers' trainer does
 *   with its `prompts` argument (the tokens of the prompt go through the model with the text);
 * - the evaluation: which dims the STS metrics are reported at.
 */
import { checkMatryoshkaDims } from '../losses/index.js';
import type { SentenceEncoder } from '../models/sentence-encoder.js';
import type { Recipe } from '../recipe/index.js';
import type { Example } from '../data/index.js';

/** Check the dims against the loaded model and give it the recipe's prompts. */
export function applyRecipeToEncoder(encoder: SentenceEncoder, recipe: Recipe): void {
  const m = recipe.loss.matryoshka;
  if (m) checkMatryoshkaDims(m.dims, encoder.dim, encoder.source);
  if (recipe.model.prompts) encoder.setPrompts({ prompts: recipe.model.prompts, defaultPromptName: recipe.model.default_prompt_name ?? null });
}

/** The prompt text of each text column (empty for none), from training.prompts and model.prompts. */
export function columnPrompts(recipe: Recipe): string[] | null {
  const names = recipe.training.prompts;
  if (!names || !recipe.model.prompts) return null;
  const prompts = recipe.model.prompts;
  return names.map((n) => (n === null ? '' : prompts[n]));
}

/** Every example's texts with its column's prompt in front; the same arrays when there are none. */
export function withColumnPrompts<T extends { train: Example[]; dev: Example[] | null; test: Example[] | null }>(data: T, recipe: Recipe): T {
  const prompts = columnPrompts(recipe);
  if (!prompts || prompts.every((p) => p === '')) return data;
  const apply = (set: Example[]): Example[] => set.map((e) => ({ ...e, texts: e.texts.map((t, c) => (prompts[c] ?? '') + t) }));
  return { ...data, train: apply(data.train), dev: data.dev && apply(data.dev), test: data.test && apply(data.test) };
}

/** The Matryoshka dims the STS evaluation reports (`spearman_cosine@d`), none without loss.matryoshka. */
export function evaluationDims(recipe: Recipe): number[] | undefined {
  return recipe.loss.matryoshka ? [...recipe.loss.matryoshka.dims] : undefined;
}
