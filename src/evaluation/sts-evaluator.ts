/**
 * STS evaluation, as sentence-transformers' EmbeddingSimilarityEvaluator with
 * similarity_fn_names = [cosine, euclidean, manhattan, dot] and main_similarity = cosine:
 * Pearson and Spearman between gold scores and each similarity (distances negated), primary
 * metric spearman_cosine.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/evaluation/EmbeddingSimilarityEvaluator.py
 *
 * Example:
 *   const r = await evaluateSts(encoder, pairs, { name: 'stsb-test' });
 *   r.metrics['stsb-test_spearman_cosine']  // r.primaryMetric names it
 */
import type { Encoder } from '../models/types.js';
import type { StsPair } from '../data/sts.js';
import { pearson, spearman } from './metrics.js';
import { embedUnique, pairScores, SIMILARITY_FNS, type SimilarityFnName } from './pair-scores.js';
import { prefixMetrics, prefixed, type EvaluationResult } from './types.js';
import { checkTruncateDim, truncateRows } from '../models/prompts.js';

export interface StsEvaluation extends EvaluationResult {
  /** Per pair, in input order: the gold score and the cosine similarity (for scatter plots). */
  gold: number[];
  cosine: number[];
}

/** The metric math without a model: gold scores and the two sides' embeddings. */
export function stsMetrics(
  gold: ArrayLike<number>,
  emb1: readonly Float32Array[],
  emb2: readonly Float32Array[],
  fns: readonly SimilarityFnName[] = SIMILARITY_FNS,
): { metrics: Record<string, number>; scores: Record<string, Float64Array> } {
  const metrics: Record<string, number> = {};
  const scores: Record<string, Float64Array> = {};
  for (const fn of fns) {
    const s = pairScores(fn, emb1, emb2);
    scores[fn] = s;
    metrics[`pearson_${fn}`] = pearson(gold, s);
    metrics[`spearman_${fn}`] = spearman(gold, s);
  }
  return { metrics, scores };
}

export interface StsOptions {
  batchSize?: number;
  /** Prefix for metric keys, e.g. `stsb-dev`; empty for none. */
  name?: string;
  progress?: boolean;
  /**
   * Matryoshka sizes: also score the first d values of each embedding, L2-normalised again (as
   * `encode --dim d`), as `pearson_cosine@d` and `spearman_cosine@d`. Cosine only: on unit
   * vectors dot product equals cosine and euclidean distance is a function of it.
   */
  dims?: readonly number[];
  /** Text prepended to every sentence (`''` for none, even over the model's default prompt). */
  prompt?: string;
}

/** `pearson_cosine@d` / `spearman_cosine@d` for each d: the cosine metrics of the truncated, re-normalised embeddings. */
export function perDimMetrics(gold: ArrayLike<number>, emb1: readonly Float32Array[], emb2: readonly Float32Array[], dims: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of dims) {
    const { metrics } = stsMetrics(gold, truncateRows(emb1, d), truncateRows(emb2, d), ['cosine']);
    out[`pearson_cosine@${d}`] = metrics.pearson_cosine;
    out[`spearman_cosine@${d}`] = metrics.spearman_cosine;
  }
  return out;
}

/**
 * Evaluate an encoder on scored pairs. Each distinct sentence is encoded once (float32),
 * then scored per pair. Used by `sbert-train eval` and by training's dev-set evaluation.
 */
export async function evaluateSts(encoder: Encoder, pairs: readonly StsPair[], opts: StsOptions = {}): Promise<StsEvaluation> {
  if (pairs.length < 2) throw new Error(`evaluateSts needs at least 2 pairs, got ${pairs.length}`);
  const name = opts.name ?? '';
  const emb = await embedUnique(encoder, pairs.flatMap((p) => [p.sentence1, p.sentence2]), opts);
  const gold = pairs.map((p) => p.score);
  const emb1 = pairs.map((p) => emb.get(p.sentence1)!);
  const emb2 = pairs.map((p) => emb.get(p.sentence2)!);
  const { metrics, scores } = stsMetrics(gold, emb1, emb2);
  if (opts.dims?.length) {
    for (const d of opts.dims) checkTruncateDim(d, emb1[0].length, 'dims', encoder.source);
    Object.assign(metrics, perDimMetrics(gold, emb1, emb2, opts.dims));
  }
  return { name, metrics: prefixMetrics(name, metrics), primaryMetric: prefixed(name, 'spearman_cosine'), gold, cosine: Array.from(scores.cosine) };
}
