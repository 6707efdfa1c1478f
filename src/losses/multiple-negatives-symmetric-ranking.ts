/**
 * MultipleNegativesSymmetricRankingLoss: MultipleNegativesRankingLoss in both directions. The
 * forward term ranks each anchor's positive above every other candidate (the other positives
 * and any hard negatives), the backward term ranks each positive's anchor above the other
 * anchors; the loss is their mean.
 *
 *     fwd  = 1/n * Σ_i ( logsumexp_j scale*cos(a_i, c_j) - scale*cos(a_i, p_i) ),  c = [p_1..p_n, n_1..n_n]
 *     bwd  = 1/n * Σ_i ( logsumexp_j scale*cos(p_i, a_j) - scale*cos(p_i, a_i) )
 *     loss = (fwd + bwd) / 2
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | anchor (e.g. question) |
 * | 1 | positive (e.g. answer) |
 * | 2 (optional) | hard negative: a candidate for the forward term only (one column at most: sentence-transformers documents pairs and triplets for this loss, unlike MNRL's n-tuples) |
 * | label | not used |
 *
 * Suits symmetric tasks (paraphrases, STS-like pairs) where either text should find the
 * other. Batches hold at least 2 examples (`minBatch`), as for MNRL. Defaults as in
 * sentence-transformers: scale 20, cosine similarity.
 *
 * Reference: Henderson et al. 2017, section 4.4, https://arxiv.org/abs/1705.00652;
 * sentence-transformers `losses/MultipleNegativesSymmetricRankingLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/MultipleNegativesSymmetricRankingLoss.py).
 *
 * Example: anchors [1, 0], [0, 1] and positives [0.6, 0.8], [0, 1] (cos(a_i, p_j) = [[0.6, 0],
 * [0.8, 1]]), scale 1 -> fwd = (log(e^0.6 + e^0) - 0.6 + log(e^0.8 + e^1) - 1) / 2 ≈ 0.5178,
 * bwd = (log(e^0.6 + e^0.8) - 0.6 + log(e^0 + e^1) - 1) / 2 ≈ 0.5557, loss ≈ 0.5368.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MNRL_PARAMS, rankingCrossEntropy } from './multiple-negatives-ranking.js';
import { defineLoss, resolveParams, type Loss } from './types.js';

export function createMultipleNegativesSymmetricRankingLoss(params: Record<string, unknown> = {}): Loss {
  const name = 'multiple_negatives_symmetric_ranking';
  const p = resolveParams(name, MNRL_PARAMS, params);
  const scale = p.scale as number;
  return defineLoss({ name, columns: 2, maxColumns: 3, needsLabel: false, labelRange: null, minBatch: 2, params: p }, (embeddings) => {
    const [anchors, positives] = embeddings; // [n, dim] each
    const candidates = embeddings.length > 2 ? tf.concat(embeddings.slice(1), 0) : positives; // [n*k, dim]
    // The trainer never sends such a batch (minBatch); reaching here is a bug.
    if (anchors.shape[0] < 2) throw new Error(`loss ${name}: a batch of one example has no other anchor to rank against`);
    const forward = rankingCrossEntropy(anchors, candidates, scale);
    const backward = rankingCrossEntropy(positives, anchors, scale);
    return tf.div(tf.add(forward, backward), 2) as tf.Scalar;
  });
}
