/**
 * Triplet evaluation, as sentence-transformers' TripletEvaluator: for (anchor, positive,
 * negative) triplets, the fraction whose anchor is more similar to the positive than to the
 * negative, for each similarity (distances negated, so "more similar" is always "higher"):
 *
 *   accuracy_fn = mean_i [ sim_fn(a_i, p_i) - sim_fn(a_i, n_i) > margin ]
 *
 * A tie is not a success (the comparison is strict, as the reference's). Metrics
 * `cosine_accuracy`, `dot_accuracy`, `euclidean_accuracy`, `manhattan_accuracy` and
 * `max_accuracy`; primary: cosine_accuracy.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/evaluation/TripletEvaluator.py
 *
 * Example:
 *   const r = await evaluateTriplets(encoder, [{ anchor: 'a cat', positive: 'a kitten', negative: 'a car' }], { name: 'nli-dev' });
 *   r.metrics['nli-dev_cosine_accuracy']
 */
import type { Encoder } from '../models/types.js';
import { embedUnique, pairScores, SIMILARITY_FNS, type SimilarityFnName } from './pair-scores.js';
import { prefixMetrics, prefixed, type EvaluationResult } from './types.js';

export interface Triplet {
  anchor: string;
  positive: string;
  negative: string;
}

/** Fraction of rows with positive[i] - negative[i] > margin (scores: higher = more similar). */
export function tripletAccuracy(positive: ArrayLike<number>, negative: ArrayLike<number>, margin = 0): number {
  if (positive.length !== negative.length) throw new Error(`tripletAccuracy: ${positive.length} vs ${negative.length} rows`);
  if (positive.length === 0) return NaN;
  let hits = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i] - negative[i] > margin) hits++;
  return hits / positive.length;
}

/** The metric math without a model: the three columns' embeddings, row by row. */
export function tripletMetrics(
  anchors: readonly Float32Array[],
  positives: readonly Float32Array[],
  negatives: readonly Float32Array[],
  opts: { fns?: readonly SimilarityFnName[]; margin?: number } = {},
): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const fn of opts.fns ?? SIMILARITY_FNS) {
    metrics[`${fn}_accuracy`] = tripletAccuracy(pairScores(fn, anchors, positives), pairScores(fn, anchors, negatives), opts.margin ?? 0);
  }
  metrics.max_accuracy = Math.max(...Object.values(metrics));
  return metrics;
}

export async function evaluateTriplets(
  encoder: Encoder,
  triplets: readonly Triplet[],
  opts: { batchSize?: number; name?: string; fns?: readonly SimilarityFnName[]; margin?: number; progress?: boolean } = {},
): Promise<EvaluationResult> {
  if (triplets.length === 0) throw new Error('evaluateTriplets: no triplets');
  const name = opts.name ?? '';
  const emb = await embedUnique(encoder, triplets.flatMap((t) => [t.anchor, t.positive, t.negative]), opts);
  const col = (k: keyof Triplet) => triplets.map((t) => emb.get(t[k])!);
  const metrics = tripletMetrics(col('anchor'), col('positive'), col('negative'), opts);
  const fns = opts.fns ?? SIMILARITY_FNS;
  return { name, metrics: prefixMetrics(name, metrics), primaryMetric: prefixed(name, `${fns.includes('cosine') ? 'cosine' : fns[0]}_accuracy`) };
}
