/**
 * TripletLoss (Schroff et al. 2015, FaceNet): the anchor must be closer to the positive than
 * to the negative by at least `margin`, in Euclidean distance.
 *
 *     loss = 1/n * Σ_i max(0, ‖a_i - p_i + ε‖ - ‖a_i - n_i + ε‖ + margin)     ε = 1e-6
 *
 * (ε as torch.nn.functional.pairwise_distance, which sentence-transformers uses; it also
 * keeps the gradient finite when two embeddings coincide.)
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | anchor |
 * | 1 | positive (similar to the anchor) |
 * | 2 | negative (dissimilar to the anchor) |
 * | label | not used |
 *
 * Defaults as in sentence-transformers: Euclidean distance, margin 5 (meant for unnormalised
 * embeddings); `distance` may also be cosine or manhattan (distances.ts).
 *
 * Reference: https://arxiv.org/abs/1503.03832; sentence-transformers `losses/TripletLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/TripletLoss.py).
 *
 * Example: a = [0, 0], p = [3, 0], n = [0, 4], margin 5  ->  max(0, 3 - 4 + 5) = 4.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DISTANCE_NAMES, DISTANCES, type DistanceName } from './distances.js';
import { defineLoss, resolveParams, type Loss, type LossParamSpec } from './types.js';

export const TRIPLET_PARAMS: LossParamSpec = {
  margin: { default: 5, positive: true, why: 'required gap between positive and negative Euclidean distances (sentence-transformers default)' },
  distance: { default: 'euclidean', choices: DISTANCE_NAMES, why: 'sentence-transformers default TripletDistanceMetric.EUCLIDEAN' },
};

export function createTripletLoss(params: Record<string, unknown> = {}): Loss {
  const p = resolveParams('triplet', TRIPLET_PARAMS, params);
  const margin = p.margin as number;
  const distance = DISTANCES[p.distance as DistanceName];
  return defineLoss({ name: 'triplet', columns: 3, maxColumns: 3, needsLabel: false, labelRange: null, minBatch: 1, params: p }, (embeddings) => {
    const [anchor, positive, negative] = embeddings;
    const dPos = distance(anchor, positive); // [n]
    const dNeg = distance(anchor, negative); // [n]
    return tf.mean(tf.relu(tf.add(tf.sub(dPos, dNeg), margin))) as tf.Scalar;
  });
}
