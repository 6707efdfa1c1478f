/**
 * CoSENTLoss: a ranking loss on pair similarities. Every pair of pairs (i, j) whose gold
 * scores say y_i < y_j should have cos_i < cos_j; violations are penalised softly.
 *
 *     s_i = scale * cos(u_i, v_i)
 *     loss = log(1 + Σ_{(i, j): y_i < y_j} exp(s_i - s_j))
 *
 * (the 1 is the exp(0) term sentence-transformers prepends before the logsumexp). Only the
 * order of the labels matters, so any score scale works.
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | sentence 1 |
 * | 1 | sentence 2 |
 * | label | similarity score (any scale; only the ordering is used) |
 *
 * Reference: Su Jianlin 2022, https://kexue.fm/archives/8847; sentence-transformers
 * `losses/CoSENTLoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/CoSENTLoss.py).
 * Default scale 20 as there.
 *
 * Example: cos = [0.5, 0.2], labels [1, 0] (correctly ordered pair (1, 0)), scale 20  ->
 * loss = log(1 + exp(20*0.2 - 20*0.5)) = log(1 + e^-6) ≈ 0.002476.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pairwiseCosine, type PairSimilarity } from '../similarity/index.js';
import { defineLoss, resolveParams, type Loss, type LossParamSpec } from './types.js';

export const COSENT_PARAMS: LossParamSpec = {
  scale: { default: 20, positive: true, why: 'inverse temperature on the cosine differences (sentence-transformers default)' },
};

/** Added to the excluded (i, j) entries so exp() of them is 0, as in the reference. */
const EXCLUDED = -1e12;

export function createCoSENTLoss(params: Record<string, unknown> = {}): Loss {
  return createPairRankingLoss('cosent', pairwiseCosine, params);
}

/** The CoSENT ranking loss over any pairwise similarity: cosine here, the complex angle in AnglE (angle.ts). */
export function createPairRankingLoss(name: string, similarity: PairSimilarity, params: Record<string, unknown> = {}): Loss {
  const p = resolveParams(name, COSENT_PARAMS, params);
  const scale = p.scale as number;
  return defineLoss({ name, columns: 2, maxColumns: 2, needsLabel: true, labelRange: null, minBatch: 1, params: p }, (embeddings, labels) => {
    const n = embeddings[0].shape[0];
    const s = tf.mul(similarity(embeddings[0], embeddings[1]), scale); // [n]
    const diff = tf.sub(tf.reshape(s, [n, 1]), tf.reshape(s, [1, n])); // [n, n]: s_i - s_j
    const y = tf.cast(labels!, 'float32');
    const ordered = tf.cast(tf.less(tf.reshape(y, [n, 1]), tf.reshape(y, [1, n])), 'float32'); // [n, n]: y_i < y_j
    const masked = tf.add(diff, tf.mul(tf.sub(1, ordered), EXCLUDED)); // [n, n]
    const all = tf.concat([tf.zeros([1]), tf.reshape(masked, [n * n])], 0); // [1 + n*n]
    return tf.logSumExp(all) as tf.Scalar;
  });
}
