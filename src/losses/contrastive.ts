/**
 * ContrastiveLoss (Hadsell, Chopra & LeCun 2006): pull positive pairs together, push
 * negative pairs at least `margin` apart, with the cosine distance d = 1 - cos(u, v).
 *
 *     loss_i = 0.5 * ( y_i * d_i² + (1 - y_i) * max(0, margin - d_i)² )
 *     loss   = mean_i loss_i   (sizeAverage, default)   or   Σ_i loss_i
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | sentence 1 |
 * | 1 | sentence 2 |
 * | label | 1 = similar pair, 0 = dissimilar pair |
 *
 * Defaults as in sentence-transformers: margin 0.5, cosine distance, size_average true;
 * `distance` may also be euclidean or manhattan (distances.ts).
 *
 * Reference: http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf;
 * sentence-transformers `losses/ContrastiveLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/ContrastiveLoss.py).
 *
 * Example: one negative pair with cos 0.8 (d 0.2), margin 0.5  ->  0.5 * 0.3² = 0.045.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DISTANCE_NAMES, DISTANCES, type DistanceName } from './distances.js';
import { defineLoss, resolveParams, type Loss, type LossParamSpec } from './types.js';

export const CONTRASTIVE_PARAMS: LossParamSpec = {
  margin: { default: 0.5, positive: true, why: 'negatives closer than this cosine distance are penalised (sentence-transformers default)' },
  distance: { default: 'cosine', choices: DISTANCE_NAMES, why: 'cosine distance suits normalised sentence embeddings (sentence-transformers default)' },
  sizeAverage: { default: true, why: 'mean over the batch (true) or sum (false), as torch size_average' },
};

export function createContrastiveLoss(params: Record<string, unknown> = {}): Loss {
  const p = resolveParams('contrastive', CONTRASTIVE_PARAMS, params);
  const margin = p.margin as number;
  const distance = DISTANCES[p.distance as DistanceName];
  return defineLoss({ name: 'contrastive', columns: 2, maxColumns: 2, needsLabel: true, labelRange: { kind: 'binary' }, minBatch: 1, params: p }, (embeddings, labels) => {
    const y = tf.cast(labels!, 'float32'); // [batch]
    const d = distance(embeddings[0], embeddings[1]); // [batch]
    const pos = tf.mul(y, tf.square(d));
    const neg = tf.mul(tf.sub(1, y), tf.square(tf.relu(tf.sub(margin, d))));
    const perPair = tf.mul(0.5, tf.add(pos, neg)); // [batch]
    return (p.sizeAverage ? tf.mean(perPair) : tf.sum(perPair)) as tf.Scalar;
  });
}
