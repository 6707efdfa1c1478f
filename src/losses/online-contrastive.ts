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
 * | label | 1 = similar, 0 = dissimilar (other values are in neither set) |
 *
 * Reference: sentence-transformers `losses/OnlineContrastiveLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/OnlineContrastiveLoss.py).
 *
 * Example: d = [0.1 (pos), 0.4 (pos), 0.3 (neg), 0.6 (neg)], margin 0.5: max_P = 0.4, so the
 * negative 0.3 is hard; min_N = 0.3, so the positive 0.4 is hard:
 * loss = 0.4² + (0.5 - 0.3)² = 0.2.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DISTANCE_NAMES, DISTANCES, type DistanceName } from './distances.js';
import { defineLoss, resolveParams, type Loss, type LossParamSpec } from './types.js';

export const ONLINE_CONTRASTIVE_PARAMS: LossParamSpec = {
  margin: { default: 0.5, positive: true, why: 'hard negatives closer than this cosine distance are penalised (sentence-transformers default)' },
  distance: { default: 'cosine', choices: DISTANCE_NAMES, why: 'cosine distance suits normalised sentence embeddings (sentence-transformers default)' },
};

/**
 * Which pairs are hard, from plain numbers: returns 0/1 masks [batch] for positives and
 * negatives. Exported for tests. NaN thresholds (e.g. no negatives at all) select nothing,
 * as the comparisons with NaN do in torch.
 */
export function hardPairMasks(distances: ArrayLike<number>, labels: ArrayLike<number>): { pos: Float32Array; neg: Float32Array } {
  const posIdx: number[] = [];
  const negIdx: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) posIdx.push(i);
    else if (labels[i] === 0) negIdx.push(i);
  }
  const pick = (idx: number[]) => idx.map((i) => distances[i]);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
  const negThreshold = posIdx.length > 1 ? Math.max(...pick(posIdx)) : mean(pick(negIdx));
  const posThreshold = negIdx.length > 1 ? Math.min(...pick(negIdx)) : mean(pick(posIdx));
  const pos = new Float32Array(labels.length);
  const neg = new Float32Array(labels.length);
  for (const i of negIdx) neg[i] = distances[i] < negThreshold ? 1 : 0;
  for (const i of posIdx) pos[i] = distances[i] > posThreshold ? 1 : 0;
  return { pos, neg };
}

export function createOnlineContrastiveLoss(params: Record<string, unknown> = {}): Loss {
  const p = resolveParams('online_contrastive', ONLINE_CONTRASTIVE_PARAMS, params);
  const margin = p.margin as number;
  const distance = DISTANCES[p.distance as DistanceName];
  return defineLoss({ name: 'online_contrastive', columns: 2, maxColumns: 2, needsLabel: true, params: p }, (embeddings, labels) => {
    const d = distance(embeddings[0], embeddings[1]); // [batch]
    // The selection is a non-differentiable mask; read it on the host (batch is small).
    const masks = hardPairMasks(d.dataSync(), labels!.dataSync());
    const posMask = tf.tensor1d(masks.pos); // [batch]
    const negMask = tf.tensor1d(masks.neg); // [batch]
    const positive = tf.sum(tf.mul(posMask, tf.square(d)));
    const negative = tf.sum(tf.mul(negMask, tf.square(tf.relu(tf.sub(margin, d)))));
    return tf.add(positive, negative) as tf.Scalar;
  });
}
