/**
 * OnlineContrastiveLoss: ContrastiveLoss on the hard pairs of the batch only.
 *
 * With distances d_i (cosine distance 1 - cos(u_i, v_i) by default; see distances.ts), positives P = {i : y_i = 1} and negatives
 * N = {i : y_i = 0}:
 *
 *     hard negatives  N' = {i ∈ N : d_i < (max_{P} d  if |P| > 1 else mean_{N} d)}
 *     hard positives  P' = {i ∈ P : d_i > (min_{N} d  if |N| > 1 else mean_{P} d)}
 *     loss = Σ_{P'} d_i²  +  Σ_{N'} max(0, margin - d_i)²
 *
 * (a sum, not a mean, and no factor 0.5 — as in sentence-transformers). Positives that are
 * already closer than every negative, and negatives farther than every positive, contribute
 * nothing; the selection itself is not differentiated (it is a mask).
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | sentence 1 |
 * | 1 | sentence 2 |
 * | label | 1 = similar, 0 = dissimilar (declared `labelRange` binary: the trainer refuses other values) |
 *
 * Reference: sentence-transformers `losses/OnlineContrastiveLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/OnlineContrastiveLoss.py).
 *
 * Example: d = [0.1 (pos), 0.4 (pos), 0.3 (neg), 0.6 (neg)], margin 0.5: max_P = 0.4, so the
 * negative 0.3 is hard; min_N = 0.3, so the positive 0.4 is hard:
 * loss = 0.4² + (0.5 - 0.3)² = 0.2.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nonDifferentiable } from '../backend/ops.js';
import { DISTANCE_NAMES, DISTANCES, type DistanceName } from './distances.js';
import { defineLoss, resolveParams, type Loss, type LossParamSpec } from './types.js';

export const ONLINE_CONTRASTIVE_PARAMS: LossParamSpec = {
  margin: { default: 0.5, positive: true, why: 'hard negatives closer than this cosine distance are penalised (sentence-transformers default)' },
  distance: { default: 'cosine', choices: DISTANCE_NAMES, why: 'cosine distance suits normalised sentence embeddings (sentence-transformers default)' },
};

/**
 * Which pairs are hard: 0/1 masks [batch] for positives and negatives, computed on the
 * backend (no read back to the host, which GPU backends cannot do synchronously). NaN
 * thresholds (e.g. no negatives at all) select nothing, as the comparisons with NaN do in
 * torch. Exported for tests.
 */
export function hardPairMasks(distances: tf.Tensor1D, labels: tf.Tensor1D): { pos: tf.Tensor1D; neg: tf.Tensor1D } {
  return tf.tidy(() => {
    const [pos, neg] = tf.unstack(selectHard(distances, labels)) as tf.Tensor1D[];
    return { pos, neg };
  });
}

/** [2, batch]: the positive and negative masks; the selection is not differentiated. */
const selectHard = nonDifferentiable((d: tf.Tensor, labels: tf.Tensor) => {
  const y = tf.cast(labels, 'float32');
  const isPos = tf.equal(y, 1); // [batch] bool
  const isNeg = tf.equal(y, 0);
  const nPos = tf.sum(tf.cast(isPos, 'float32'));
  const nNeg = tf.sum(tf.cast(isNeg, 'float32'));
  const maxPos = tf.max(tf.where(isPos, d, tf.fill(d.shape, -Infinity)));
  const minNeg = tf.min(tf.where(isNeg, d, tf.fill(d.shape, Infinity)));
  const meanPos = tf.div(tf.sum(tf.where(isPos, d, tf.zerosLike(d))), nPos); // NaN without positives
  const meanNeg = tf.div(tf.sum(tf.where(isNeg, d, tf.zerosLike(d))), nNeg);
  const negThreshold = tf.where(tf.greater(nPos, 1), maxPos, meanNeg);
  const posThreshold = tf.where(tf.greater(nNeg, 1), minNeg, meanPos);
  const pos = tf.logicalAnd(isPos, tf.greater(d, posThreshold));
  const neg = tf.logicalAnd(isNeg, tf.less(d, negThreshold));
  return tf.cast(tf.stack([pos, neg]), 'float32');
});

export function createOnlineContrastiveLoss(params: Record<string, unknown> = {}): Loss {
  const p = resolveParams('online_contrastive', ONLINE_CONTRASTIVE_PARAMS, params);
  const margin = p.margin as number;
  const distance = DISTANCES[p.distance as DistanceName];
  return defineLoss({ name: 'online_contrastive', columns: 2, maxColumns: 2, needsLabel: true, labelRange: { kind: 'binary' }, minBatch: 1, params: p }, (embeddings, labels) => {
    const d = distance(embeddings[0], embeddings[1]); // [batch]
    const { pos: posMask, neg: negMask } = hardPairMasks(d, labels!); // [batch] each
    const positive = tf.sum(tf.mul(posMask, tf.square(d)));
    const negative = tf.sum(tf.mul(negMask, tf.square(tf.relu(tf.sub(margin, d)))));
    return tf.add(positive, negative) as tf.Scalar;
  });
}
