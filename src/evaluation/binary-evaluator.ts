/**
 * Pair classification, as sentence-transformers' BinaryClassificationEvaluator: for labelled
 * pairs (1 = similar / duplicate, 0 = not), the best-threshold accuracy and F1 (with its
 * precision and recall) and the threshold-free average precision, for each similarity
 * (distances negated, so thresholds on euclidean / manhattan are negative). Primary: cosine_ap.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/evaluation/BinaryClassificationEvaluator.py
 */
import type { Encoder } from '../models/types.js';
import type { LabelledPair } from '../data/sts.js';
import { averagePrecision, bestAccuracyThreshold, bestF1Threshold } from './metrics.js';
import { embedUnique, pairScores, SIMILARITY_FNS, type SimilarityFnName } from './pair-scores.js';
import { prefixMetrics, prefixed, type EvaluationResult } from './types.js';

export type { LabelledPair };

/** Metrics for one similarity's scores against 0/1 labels, keys `${fn}_accuracy` etc. */
export function binaryMetrics(fn: string, labels: ArrayLike<number>, scores: ArrayLike<number>): Record<string, number> {
  const acc = bestAccuracyThreshold(labels, scores);
  const f1 = bestF1Threshold(labels, scores);
  return {
    [`${fn}_accuracy`]: acc.accuracy,
    [`${fn}_accuracy_threshold`]: acc.threshold,
    [`${fn}_f1`]: f1.f1,
    [`${fn}_precision`]: f1.precision,
    [`${fn}_recall`]: f1.recall,
    [`${fn}_f1_threshold`]: f1.threshold,
    [`${fn}_ap`]: averagePrecision(labels, scores),
  };
}

export async function evaluateBinary(
  encoder: Encoder,
  pairs: readonly LabelledPair[],
  opts: { batchSize?: number; name?: string; fns?: readonly SimilarityFnName[] } = {},
): Promise<EvaluationResult> {
  for (const [i, p] of pairs.entries()) {
    if (p.label !== 0 && p.label !== 1) throw new Error(`pair ${i}: label must be 0 or 1, got ${p.label}`);
  }
  const name = opts.name ?? '';
  const emb = await embedUnique(encoder, pairs.flatMap((p) => [p.sentence1, p.sentence2]), opts);
  const labels = pairs.map((p) => p.label);
  const a = pairs.map((p) => emb.get(p.sentence1)!);
  const b = pairs.map((p) => emb.get(p.sentence2)!);
  let metrics: Record<string, number> = {};
  for (const fn of opts.fns ?? SIMILARITY_FNS) metrics = { ...metrics, ...binaryMetrics(fn, labels, pairScores(fn, a, b)) };
  return { name, metrics: prefixMetrics(name, metrics), primaryMetric: prefixed(name, 'cosine_ap') };
}
