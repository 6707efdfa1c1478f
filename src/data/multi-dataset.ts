/**
 * Several training datasets in one run: each dataset is batched on its own (./batching.ts
 * makeBatches, so a batch never mixes datasets and each keeps its loss), then the batches are
 * interleaved, as sentence-transformers' multi-dataset batch samplers do:
 *
 *   proportional  every batch of every dataset, in an order drawn at random (seeded by seed and
 *                 epoch): each position holds dataset d with probability proportional to its
 *                 batches left, so larger datasets come up more often and all end together
 *                 (ProportionalBatchSampler, the sentence-transformers default).
 *   round_robin   one batch of each dataset in turn (0, 1, 2, 0, 1, 2, ...), stopping when the
 *                 next one in turn has none left: every dataset is seen equally often and the
 *                 larger ones are only partly used in an epoch (RoundRobinBatchSampler).
 *
 * The result is a pure function of (batches, sampler, seed, epoch), which is what makes a
 * resumed run continue exactly where the interrupted one stopped.
 * https://sbert.net/docs/package_reference/sentence_transformer/sampler.html
 *
 * Example: batches per dataset [3, 1] -> round_robin [0, 1, 0]; proportional e.g. [0, 0, 1, 0].
 */
import seedrandom from 'seedrandom';
import { shuffleInPlace } from './batching.js';

export type MultiDatasetSampler = 'proportional' | 'round_robin';

/** A batch and the dataset (index) it came from. */
export interface DatasetBatch<T> {
  dataset: number;
  examples: T[];
}

export function interleaveBatches<T>(perDataset: readonly T[][][], sampler: MultiDatasetSampler, opts: { seed: number; epoch: number }): DatasetBatch<T>[] {
  const order = sampler === 'round_robin' ? roundRobinOrder(perDataset.map((b) => b.length)) : proportionalOrder(perDataset.map((b) => b.length), opts.seed, opts.epoch);
  const next = perDataset.map(() => 0);
  return order.map((d) => ({ dataset: d, examples: perDataset[d][next[d]++] }));
}

/** Dataset of each batch, in turn, until the dataset whose turn it is has run out. */
export function roundRobinOrder(counts: readonly number[]): number[] {
  const out: number[] = [];
  const used = counts.map(() => 0);
  if (counts.length === 0) return out;
  for (let d = 0; used[d] < counts[d]; d = (d + 1) % counts.length) {
    out.push(d);
    used[d]++;
  }
  return out;
}

/** Every batch once: dataset d's index `counts[d]` times, shuffled (seeded by seed and epoch). */
export function proportionalOrder(counts: readonly number[], seed: number, epoch: number): number[] {
  const out = counts.flatMap((n, d) => new Array<number>(n).fill(d));
  // Its own stream, apart from the one that orders each dataset's examples (makeBatches).
  return shuffleInPlace(out, seedrandom(`datasets:${seed}:${epoch}`));
}
