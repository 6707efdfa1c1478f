/**
 * Glue between a recipe and the data / loss modules: read the train, dev and test files with
 * the recipe's column mapping, check them against what the loss and the evaluator need, carve
 * a seeded validation split, batch each epoch, build the loss, and fingerprint the files so a
 * resumed run knows it reads the data it started with. The readers and batching themselves
 * live in src/data, the losses in src/losses.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DataError, UserError } from '../errors.js';
import { interleaveBatches, loadPairs, makeBatches, validationSplit, type DatasetBatch, type Example } from '../data/index.js';
import { createLoss, createMatryoshkaLoss, describeLabelRange, labelFits, type LabelRange, type Loss } from '../losses/index.js';
import type { StsPair } from '../data/sts.js';
import { isMultiDataset, trainDatasets, type Recipe, type TrainDataset } from '../recipe/index.js';

export type { Example };
export type TrainLoss = Loss;

/** `train[<name>]`: one dataset of a data.train list. */
export type DataKey = 'train' | 'dev' | 'test' | `train[${string}]`;

/** What a data file held when it was loaded: enough to tell, on --resume, that it changed. */
export interface DataFingerprint {
  file: string;
  /** Examples read from the file. */
  rows: number;
  /** sha256 of the file's bytes. */
  sha256: string;
}

export type DataFingerprints = Partial<Record<DataKey, DataFingerprint>>;

/**
 * One training dataset as loaded: its own loss, and its examples as a range of RunData.train
 * (a range, so what maps train example by example, such as column prompts, maps the datasets too).
 */
export interface TrainSet {
  name: string;
  loss: Loss;
  /** Its examples are train.slice(start, end). */
  start: number;
  end: number;
}

export interface RunData {
  /** Every training example (of all datasets, in list order). */
  train: Example[];
  /** The training datasets (batches are made per dataset, epochBatches); absent: one, all of train, with the run's loss. */
  trainSets?: TrainSet[];
  dev: Example[] | null;
  test: Example[] | null;
  fingerprints: DataFingerprints;
}

/** Places listed in a label error; the rest are counted. */
const MAX_LISTED = 5;

/**
 * One data file with the recipe's column mapping (or a dataset's own, `mapping`), its labels
 * checked against `loss` (null: a task whose labels no loss reads, such as distill's scores for
 * its closing comparison), and its fingerprint.
 */
export function readDataFile(
  recipe: Recipe,
  key: DataKey,
  file: string,
  loss: Loss | null,
  mapping: Pick<TrainDataset, 'columns' | 'format' | 'header' | 'score_scale'> = recipe.data,
): { examples: Example[]; fingerprint: DataFingerprint } {
  const d = { ...mapping, on_bad_row: recipe.data.on_bad_row };
  const { examples, lines, skipped, warnings } = loadPairs(file, {
    columns: { texts: d.columns.texts, label: d.columns.label },
    format: d.format ?? undefined,
    header: d.header ?? undefined,
    scoreScale: d.score_scale ? { from: d.score_scale } : null,
    onBadRow: d.on_bad_row,
  });
  for (const w of warnings) process.stderr.write(`${w}\n`);
  if (skipped > 0 && warnings.length === 0) process.stderr.write(`${file}: skipped ${skipped} bad row(s) (data.on_bad_row: skip)\n`);
  if (examples.length === 0) throw new DataError(`${file}: no examples found`);
  const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
  if (loss?.needsLabel && loss.labelRange) checkLabels(`data.${key} ${file}`, file, examples, lines, loss.name, loss.labelRange, d.score_scale !== null);
  return { examples, fingerprint: { file, rows: examples.length, sha256 } };
}

/**
 * Every label must be one the loss is defined on. A label outside is never skipped (data.on_bad_row):
 * it is rarely one bad row but a file on another scale, and training on it silently fits the wrong
 * targets (a cosine can never reach 7) or overflows.
 */
function checkLabels(name: string, file: string, examples: Example[], lines: number[], lossName: string, range: LabelRange, scaled: boolean): void {
  const bad: string[] = [];
  for (const [i, e] of examples.entries()) if (e.label !== undefined && !labelFits(range, e.label)) bad.push(`${file}:${lines[i]} (${e.label})`);
  if (bad.length === 0) return;
  const listed = bad.slice(0, MAX_LISTED).join('; ') + (bad.length > MAX_LISTED ? `; ... ${bad.length - MAX_LISTED} more` : '');
  const need = range.kind === 'binary' ? 'be 0 or 1' : `lie in [${range.min}, ${range.max}]`;
  throw new DataError(`${name}: ${bad.length} label${bad.length === 1 ? '' : 's'} outside what loss ${lossName} needs (labels must ${need}): ${listed}; ${labelAdvice(examples, range, scaled)}`);
}

/** How to fix labels outside the loss's range: a data.score_scale where a linear map would do it. */
function labelAdvice(examples: Example[], range: LabelRange, scaled: boolean): string {
  const values = [...new Set(examples.map((e) => e.label!))].sort((a, b) => a - b);
  const lo = values[0];
  const hi = values[values.length - 1];
  if (range.kind === 'interval') {
    if (scaled || !(lo < hi)) return `rescale the labels to [${range.min}, ${range.max}]`;
    return `the labels span [${lo}, ${hi}]: if that is their scale, set data.score_scale: [${lo}, ${hi}] to map it to [0, 1]`;
  }
  if (!scaled && values.length === 2) return `set data.score_scale: [${lo}, ${hi}] to map ${lo} to 0 (dissimilar) and ${hi} to 1 (similar)`;
  return 'a contrastive loss needs 1 (similar) or 0 (dissimilar) per pair; for graded scores use cosine_mse or cosent';
}

/**
 * A dev or test set is scored with Pearson/Spearman and dev_loss: it needs at least two
 * examples, and scores that vary (constant scores make both correlations 0/0 = NaN, which
 * early stopping would read as "no improvement").
 */
function checkEvalSet(name: string, set: Example[]): void {
  if (set.length < 2) throw new DataError(`${name}: ${set.length} example; an evaluation set needs at least 2 rows (correlations and dev_loss are undefined on one)`);
  if (toStsPairs(set) === null) return;
  const first = set[0].label!;
  if (set.every((e) => e.label === first)) throw new DataError(`${name}: scores have no variance (all ${first}); Pearson/Spearman are undefined`);
}

export function loadRunData(recipe: Recipe): RunData {
  const loss = buildLoss(recipe);
  const fingerprints: DataFingerprints = {};
  const load = (key: DataKey, file: string): Example[] => {
    const r = readDataFile(recipe, key, file, loss);
    fingerprints[key] = r.fingerprint;
    return r.examples;
  };
  const multi = isMultiDataset(recipe);
  let train: Example[] = [];
  const trainSets: TrainSet[] = trainDatasets(recipe).map((ds) => {
    const own = lossFromSpec(ds.loss);
    const key: DataKey = multi ? `train[${ds.name}]` : 'train';
    const r = readDataFile(recipe, key, ds.file, own, ds);
    fingerprints[key] = r.fingerprint;
    const start = train.length;
    train = train.concat(r.examples);
    return { name: ds.name, loss: own, start, end: train.length };
  });
  let dev = recipe.data.dev ? load('dev', recipe.data.dev) : null;
  const test = recipe.data.test ? load('test', recipe.data.test) : null;
  if (recipe.data.validation_split > 0) {
    // Seeded by the run's seed, so a resumed run holds out the same examples.
    ({ train, dev } = validationSplit(train, recipe.data.validation_split, recipe.training.seed)); // one file: the rules refuse a split of a list
    trainSets[0].end = train.length;
    if (dev.length < 2) throw new DataError(`data.validation_split: ${recipe.data.validation_split} of ${train.length + dev.length} examples leaves fewer than 2 for the dev set`);
    checkEvalSet(`data.validation_split (held out from ${recipe.data.train})`, dev);
  } else if (dev) {
    checkEvalSet(`data.dev ${recipe.data.dev}`, dev);
  }
  if (test) checkEvalSet(`data.test ${recipe.data.test}`, test);
  for (const [i, set] of trainSets.entries()) checkBatches(recipe, train, set, i, multi ? `data.train[${i}] (${set.name}) ${trainDatasets(recipe)[i].file}` : `data.train ${recipe.data.train}`);
  return { train, trainSets, dev, test, fingerprints };
}

/**
 * Before training starts: the training set must form at least one batch the loss can use, and a
 * short batch that will be dropped is said once, here, rather than every epoch.
 */
function checkBatches(recipe: Recipe, examples: Example[], set: TrainSet, index: number, where: string): void {
  const train = examples.slice(set.start, set.end);
  const loss = set.loss;
  if (loss.minBatch <= 1) return;
  const all = datasetBatches(recipe, train, index, 0);
  const dropped = all.filter((b) => b.length < loss.minBatch).reduce((n, b) => n + b.length, 0);
  if (dropped === train.length) {
    const why = recipe.training.no_duplicates && train.length >= loss.minBatch ? ' (training.no_duplicates keeps repeated texts apart, and these examples share their texts)' : '';
    throw new DataError(`${where}: ${train.length} example${train.length === 1 ? '' : 's'} cannot form one batch of ${loss.minBatch} for loss ${loss.name}, which needs in-batch negatives${why}`);
  }
  if (dropped > 0) {
    process.stderr.write(`${where}: batches smaller than ${loss.minBatch} give loss ${loss.name} no in-batch negative and are dropped (epoch 1 drops ${dropped} of ${train.length} examples)\n`);
  }
}

/**
 * One dataset's batches for the epoch, before dropping any too small for its loss. Dataset
 * `index` i > 0 shuffles with seed + i, so datasets of one size do not share an order; dataset
 * 0 with the seed itself, so a one-file recipe batches exactly as it always has.
 */
function datasetBatches(recipe: Recipe, examples: Example[], index: number, epoch: number): Example[][] {
  const t = recipe.training;
  return makeBatches(examples, t.batch_size, { shuffle: t.shuffle, seed: t.seed + index, epoch, noDuplicates: t.no_duplicates });
}

/**
 * This epoch's batches, each with the dataset it came from: a pure function of (seed, epoch),
 * which is what makes resume exact. Each dataset is batched on its own (a batch never mixes
 * datasets) and the batches interleaved by training.multi_dataset_sampler
 * (src/data/multi-dataset.ts). Batches smaller than their loss's `minBatch` (a short last batch,
 * or examples postponed by no_duplicates) are dropped rather than merged, so no batch ever
 * repeats a text.
 */
export function epochBatches(recipe: Recipe, train: Example[], sets: readonly TrainSet[], epoch: number): DatasetBatch<Example>[] {
  const perDataset = sets.map((set, i) => datasetBatches(recipe, train.slice(set.start, set.end), i, epoch).filter((b) => b.length >= set.loss.minBatch));
  if (sets.length === 1) return perDataset[0].map((examples) => ({ dataset: 0, examples }));
  return interleaveBatches(perDataset, recipe.training.multi_dataset_sampler, { seed: recipe.training.seed, epoch });
}

/** epochBatches of a one-dataset run (all of `train`, the recipe's loss), as plain batches. */
export function batchesFor(recipe: Recipe, train: Example[], epoch: number): Example[][] {
  return epochBatches(recipe, train, trainSetsOf({ train }, buildLoss(recipe)), epoch).map((b) => b.examples);
}

/** The training datasets of loaded data: RunData.trainSets, or all of train as one with `loss`. */
export function trainSetsOf(data: Pick<RunData, 'train' | 'trainSets'>, loss: Loss): TrainSet[] {
  return data.trainSets ?? [{ name: 'train', loss, start: 0, end: data.train.length }];
}

/** The recipe's top-level loss (of a one-file recipe's training, and of the dev and test sets). */
export function buildLoss(recipe: Recipe): Loss {
  return lossFromSpec(recipe.loss);
}

/** A loss from its recipe keys (loss.* or a dataset's own loss). */
export function lossFromSpec(spec: Recipe['loss']): Loss {
  const params: Record<string, number | string> = {};
  if (spec.margin !== null) params.margin = spec.margin;
  if (spec.scale !== null) params.scale = spec.scale;
  if (spec.distance !== null) params.distance = spec.distance;
  const loss = createLoss(spec.name, params);
  const m = spec.matryoshka;
  return m ? createMatryoshkaLoss(loss, m) : loss;
}

/** Scored two-text examples as STS pairs for the evaluator; null when the set is not like that. */
export function toStsPairs(set: Example[]): StsPair[] | null {
  if (set.length < 2 || set.some((e) => e.texts.length !== 2 || typeof e.label !== 'number')) return null;
  return set.map((e) => ({ sentence1: e.texts[0], sentence2: e.texts[1], score: e.label! }));
}

/**
 * On --resume: the data files must be the ones the checkpoint was trained on, or the resumed
 * position points into another batch order (and past its end when the file shrank). With
 * `allowChanged` the run continues on the new data, saying so.
 */
export function checkResumeData(now: DataFingerprints, saved: DataFingerprints | undefined, checkpointDir: string, allowChanged: boolean, log: (line: string) => void): void {
  if (saved === undefined) {
    log(`--resume: ${checkpointDir} predates data fingerprints; cannot tell whether the data files changed`);
    return;
  }
  const changed: string[] = [];
  for (const key of new Set([...Object.keys(saved), ...Object.keys(now)] as DataKey[])) {
    const a = saved[key];
    const b = now[key];
    if (a?.sha256 === b?.sha256) continue;
    const file = b?.file ?? a?.file;
    changed.push(`data.${key} ${file} (${a ? `${a.rows} rows` : 'absent'} then, ${b ? `${b.rows} rows` : 'absent'} now, different bytes)`);
  }
  if (changed.length === 0) return;
  if (!allowChanged) {
    throw new UserError(
      `--resume: ${changed.join('; ')} changed since the checkpoint in ${checkpointDir}; restore the file, or pass --allow-changed-data to continue on the new data (not the run an uninterrupted training makes)`,
    );
  }
  log(`--resume: continuing on changed data (--allow-changed-data): ${changed.join('; ')}`);
}

/**
 * Advice for a loss or gradient that stopped being finite, fitted to its likely cause: labels far
 * outside what the loss expects overflow its arithmetic whatever the learning rate; on the first
 * step no update has been made, so the learning rate cannot be the cause; after that, a step too
 * large for the weights usually is.
 */
export function divergenceAdvice(group: Example[][], loss: Loss, stepsDone: number): string {
  const range = loss.labelRange;
  if (range) {
    const bad = group.flat().find((e) => e.label !== undefined && !labelFits(range, e.label));
    if (bad) return `the batch holds label ${bad.label}, outside what loss ${loss.name} expects (${describeLabelRange(range)}): rescale the labels (data.score_scale)`;
  }
  const huge = group.flat().find((e) => e.label !== undefined && !(Math.abs(e.label) < 1e6));
  if (huge) return `the batch holds label ${huge.label}, large enough to overflow float32 arithmetic: rescale the labels (data.score_scale)`;
  if (stepsDone === 0) return "it happened on the first step, before any update, so the learning rate is not the cause: check this batch's data and the base model's weights";
  return 'try a lower optimizer.lr or optimizer.clip_grad_norm';
}
