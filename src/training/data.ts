/**
 * Glue between a recipe and the data / loss modules: read the train, dev and test files with
 * the recipe's column mapping, carve a seeded validation split, batch each epoch, and build
 * the loss. The readers and batching themselves live in src/data, the losses in src/losses.
 */
import { DataError } from '../errors.js';
import { loadPairs, makeBatches, validationSplit, type Example } from '../data/index.js';
import { createLoss, type Loss } from '../losses/index.js';
import type { StsPair } from '../data/sts.js';
import type { Recipe } from '../recipe/index.js';

export type { Example };
export type TrainLoss = Loss;

export interface RunData {
  train: Example[];
  dev: Example[] | null;
  test: Example[] | null;
}

function read(recipe: Recipe, file: string): Example[] {
  const d = recipe.data;
  const { examples, skipped, warnings } = loadPairs(file, {
    columns: { texts: d.columns.texts, label: d.columns.label },
    format: d.format ?? undefined,
    header: d.header ?? undefined,
    scoreScale: d.score_scale ? { from: d.score_scale } : null,
    onBadRow: d.on_bad_row,
  });
  for (const w of warnings) process.stderr.write(`${w}\n`);
  if (skipped > 0 && warnings.length === 0) process.stderr.write(`${file}: skipped ${skipped} bad row(s) (data.on_bad_row: skip)\n`);
  if (examples.length === 0) throw new DataError(`${file}: no examples found`);
  return examples;
}

export function loadRunData(recipe: Recipe): RunData {
  let train = read(recipe, recipe.data.train);
  let dev = recipe.data.dev ? read(recipe, recipe.data.dev) : null;
  const test = recipe.data.test ? read(recipe, recipe.data.test) : null;
  if (recipe.data.validation_split > 0) {
    // Seeded by the run's seed, so a resumed run holds out the same examples.
    ({ train, dev } = validationSplit(train, recipe.data.validation_split, recipe.training.seed));
    if (dev.length < 2) throw new DataError(`data.validation_split: ${recipe.data.validation_split} of ${train.length + dev.length} examples leaves fewer than 2 for the dev set`);
  }
  return { train, dev, test };
}

/** This epoch's batches: a pure function of (seed, epoch), which is what makes resume exact. */
export function batchesFor(recipe: Recipe, train: Example[], epoch: number): Example[][] {
  const t = recipe.training;
  return makeBatches(train, t.batch_size, { shuffle: t.shuffle, seed: t.seed, epoch, noDuplicates: t.no_duplicates });
}

export function buildLoss(recipe: Recipe): Loss {
  const params: Record<string, number | string> = {};
  if (recipe.loss.margin !== null) params.margin = recipe.loss.margin;
  if (recipe.loss.scale !== null) params.scale = recipe.loss.scale;
  if (recipe.loss.distance !== null) params.distance = recipe.loss.distance;
  return createLoss(recipe.loss.name, params);
}

/** Scored two-text examples as STS pairs for the evaluator; null when the set is not like that. */
export function toStsPairs(set: Example[]): StsPair[] | null {
  if (set.length < 2 || set.some((e) => e.texts.length !== 2 || typeof e.label !== 'number')) return null;
  return set.map((e) => ({ sentence1: e.texts[0], sentence2: e.texts[1], score: e.label! }));
}
