/**
 * CosineSimilarityLoss: regress the cosine similarity of a pair onto its gold score.
 *
 * Formula (batch of n pairs (u_i, v_i) with gold scores y_i, usually scaled to [0, 1]):
 *
 *     loss = 1/n * Σ_i (sim(u_i, v_i) - y_i)²        sim = cosine by default
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | sentence 1 |
 * | 1 | sentence 2 |
 * | label | similarity score, on the scale of `sim` (cosine: [-1, 1], typically [0, 1]) |
 *
 * The similarity is injected (`createSimilarityMseLoss`), so the angular variant
 * (angular-mse.ts) is this loss with another function, not a copy.
 *
 * Reference: sentence-transformers `losses/CosineSimilarityLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/CosineSimilarityLoss.py);
 * Reimers & Gurevych 2019, https://arxiv.org/abs/1908.10084.
 *
 * Example: u = [1, 0], v = [0, 1] (cos 0), label 1  ->  loss (0 - 1)² = 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pairwiseCosine, type PairSimilarity } from '../similarity/index.js';
import { defineLoss, resolveParams, type LabelRange, type Loss, type LossParamSpec } from './types.js';

export const COSINE_MSE_PARAMS: LossParamSpec = {};

/** A loss `mean((similarity(u, v) - label)²)` for any pairwise similarity function; labels on that function's scale. */
export function createSimilarityMseLoss(name: string, similarity: PairSimilarity, labelRange: LabelRange, params: Record<string, unknown> = {}): Loss {
  const resolved = resolveParams(name, COSINE_MSE_PARAMS, params);
  return defineLoss({ name, columns: 2, maxColumns: 2, needsLabel: true, labelRange, minBatch: 1, params: resolved }, (embeddings, labels) => {
    const sim = similarity(embeddings[0], embeddings[1]); // [batch]
    return tf.mean(tf.squaredDifference(sim, tf.cast(labels!, 'float32'))) as tf.Scalar;
  });
}

export function createCosineMseLoss(params: Record<string, unknown> = {}): Loss {
  return createSimilarityMseLoss('cosine_mse', pairwiseCosine, { kind: 'interval', min: -1, max: 1 }, params);
}
