/**
 * MultipleNegativesRankingLoss (InfoNCE with in-batch negatives): for each anchor a_i, its
 * positive p_i must score higher than every other candidate in the batch — the other
 * anchors' positives and, if given, every hard negative of every example.
 *
 *     s_ij = scale * cos(a_i, c_j),   candidates c = [p_1..p_n, n1_1..n1_n, ..., nk_1..nk_n]  // [n, (k+1)n]
 *     loss = 1/n * Σ_i ( logsumexp_j s_ij - s_ii )                         (cross-entropy, target i)
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | anchor (e.g. query) |
 * | 1 | positive (e.g. matching passage) |
 * | 2.. (optional) | hard negatives for this anchor: any number k <= 64 of columns, the same for every example (sentence-transformers' (anchor, positive, negative_1, ..., negative_k); `data mine-negatives --output-format n-tuple` writes them) |
 * | label | not used |
 *
 * Only positive pairs are needed. Training batches hold at least 2 examples (`minBatch`): with
 * one and no hard negative the softmax is over a single candidate and the loss is undefined
 * (one anchor with a hard negative is defined, and computed). Duplicate texts in a batch become false negatives: batch
 * with `noDuplicates` (src/data/batching.ts). Defaults as in sentence-transformers: scale 20
 * (= temperature 0.05), cosine similarity.
 *
 * Reference: Henderson et al. 2017, https://arxiv.org/abs/1705.00652; sentence-transformers
 * `losses/MultipleNegativesRankingLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/MultipleNegativesRankingLoss.py).
 *
 * Example: two anchors, cos matrix [[1, 0], [0, 1]], scale 20  ->
 * loss = log(1 + e^-20) ≈ 2.06e-9.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cosineMatrix } from '../similarity/index.js';
import { defineLoss, resolveParams, type Loss, type LossParamSpec } from './types.js';

export const MNRL_PARAMS: LossParamSpec = {
  scale: { default: 20, positive: true, why: 'inverse temperature of the softmax over cosine scores (sentence-transformers default)' },
};

/** Most hard-negative columns after (anchor, positive); a bound so a wrong mapping of a wide table is caught, not a limit of the maths. */
export const MNRL_MAX_NEGATIVES = 64;

export function createMultipleNegativesRankingLoss(params: Record<string, unknown> = {}): Loss {
  const p = resolveParams('multiple_negatives_ranking', MNRL_PARAMS, params);
  const scale = p.scale as number;
  return defineLoss({ name: 'multiple_negatives_ranking', columns: 2, maxColumns: 2 + MNRL_MAX_NEGATIVES, needsLabel: false, labelRange: null, minBatch: 2, params: p }, (embeddings) => {
    const candidates = embeddings.length > 2 ? tf.concat(embeddings.slice(1), 0) : embeddings[1]; // [n*k, dim]
    // The trainer never sends such a batch (minBatch); reaching here is a bug, named as one rather than a oneHot error.
    if (candidates.shape[0] < 2) throw new Error('loss multiple_negatives_ranking: a batch of one example without a hard negative has no negative to rank against');
    return rankingCrossEntropy(embeddings[0], candidates, scale);
  });
}

/**
 * Mean cross-entropy of picking candidate i for query i among all candidates, on scaled
 * cosine scores: queries [n, dim], candidates [m >= n, dim]. Also the symmetric variant's two
 * directions (multiple-negatives-symmetric-ranking.ts).
 */
export function rankingCrossEntropy(queries: tf.Tensor2D, candidates: tf.Tensor2D, scale: number): tf.Scalar {
  const n = queries.shape[0];
  const scores = tf.mul(cosineMatrix(queries, candidates), scale); // [n, m]
  const target = tf.oneHot(tf.range(0, n, 1, 'int32'), candidates.shape[0]); // [n, m]
  const positive = tf.sum(tf.mul(scores, target), 1); // [n]
  return tf.mean(tf.sub(tf.logSumExp(scores, 1), positive)) as tf.Scalar;
}
