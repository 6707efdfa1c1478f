/**
 * Split examples into batches, reproducibly from (seed, epoch).
 *
 * With `noDuplicates`, no text appears twice in one batch. For in-batch-negative losses
 * (MultipleNegativesRankingLoss) a repeated text in a batch is a false negative: the model is
 * told that a text is unlike itself. As sentence-transformers' NoDuplicatesBatchSampler, an
 * example whose texts clash with the batch being filled is postponed to a later batch, and
 * when the remaining examples cannot fill a batch it is emitted short (or dropped with
 * `dropLast`). Unlike that sampler, only the texts are compared, not the label column (two
 * examples with the same score are not duplicates).
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/sampler.py
 */
import seedrandom from 'seedrandom';
import { DataError } from '../errors.js';

export interface BatchOptions {
  shuffle?: boolean;
  seed?: number;
  /** Mixed into the seed so each epoch has its own order. */
  epoch?: number;
  noDuplicates?: boolean;
  dropLast?: boolean;
}

/** Fisher-Yates with a given random source. */
export function shuffleInPlace<T>(xs: T[], rng: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

export function makeBatches<T extends { texts: readonly string[] }>(examples: readonly T[], batchSize: number, opts: BatchOptions = {}): T[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new DataError(`batch size must be a whole number >= 1, got ${batchSize}`);
  const order = examples.map((_, i) => i);
  if (opts.shuffle ?? true) shuffleInPlace(order, seedrandom(`batches:${opts.seed ?? 0}:${opts.epoch ?? 0}`));
  const batches = opts.noDuplicates ? noDuplicateBatches(examples, order, batchSize, opts.dropLast ?? false) : plainBatches(order, batchSize, opts.dropLast ?? false);
  return batches.map((b) => b.map((i) => examples[i]));
}

function plainBatches(order: number[], size: number, dropLast: boolean): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += size) {
    const b = order.slice(i, i + size);
    if (b.length === size || !dropLast) out.push(b);
  }
  return out;
}

/**
 * Each batch takes, in order, the remaining examples that share no text with it; clashing
 * ones wait. A batch that could not be filled from everything remaining is short.
 */
function noDuplicateBatches<T extends { texts: readonly string[] }>(examples: readonly T[], order: number[], size: number, dropLast: boolean): number[][] {
  const out: number[][] = [];
  let remaining = order;
  while (remaining.length > 0) {
    const seen = new Set<string>();
    const batch: number[] = [];
    const postponed: number[] = [];
    let k = 0;
    for (; k < remaining.length && batch.length < size; k++) {
      const i = remaining[k];
      const texts = examples[i].texts;
      if (texts.some((t) => seen.has(t))) {
        postponed.push(i);
        continue;
      }
      batch.push(i);
      for (const t of texts) seen.add(t);
    }
    if (batch.length === size || !dropLast) out.push(batch);
    remaining = [...postponed, ...remaining.slice(k)];
  }
  return out;
}
