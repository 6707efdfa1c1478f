/**
 * Similarity functions, in two forms: tensor versions for losses (differentiable) and plain
 * number versions for evaluation and search.
 */
import * as tf from '@tensorflow/tfjs-core';

const EPS = 1e-12;

/** Row-wise L2 normalisation, as torch.nn.functional.normalize (eps 1e-12). [n, d] -> [n, d] */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), EPS)) as tf.Tensor2D);
}

/** Cosine of matching rows: a [n, d], b [n, d] -> [n]. */
export function pairwiseCosine(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(l2Normalize(a), l2Normalize(b)), -1) as tf.Tensor1D);
}

/** Every row of a against every row of b: [n, d] x [m, d] -> [n, m]. */
export function cosineMatrix(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(l2Normalize(a), l2Normalize(b), false, true));
}

/**
 * Angular similarity 1 - arccos(cos)/pi, in [0, 1], as in the Keras + Universal Sentence
 * Encoder STS recipe (Cer et al. 2018, https://arxiv.org/abs/1803.11175). The cosine is
 * clipped just inside [-1, 1] so the gradient of arccos stays finite.
 */
export function angularFromCosine(cos: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(1, tf.div(tf.acos(tf.clipByValue(cos, -1 + 1e-7, 1 - 1e-7)), Math.PI)));
}

export type PairSimilarity = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor1D;

export const pairwiseAngular: PairSimilarity = (a, b) =>
  tf.tidy(() => angularFromCosine(pairwiseCosine(a, b)) as tf.Tensor1D);

/**
 * AnglE's normalised angle similarity (sentence-transformers `util.pairwise_angle_sim`): each
 * embedding is split in halves read as complex numbers, x = a + ib and y = c + id, divided
 * element-wise with y's whole squared norm, and the real and imaginary parts summed:
 *
 *     re = (a*c + b*d) / |y|^2,  im = (b*c - a*d) / |y|^2,  both divided by |x| / |y|
 *     sim = | Σ re + Σ im | = | Σ_k (a_k c_k + b_k d_k + b_k c_k - a_k d_k) | / (|x| |y|)
 *
 * An odd width gets a zero appended first. [n, d] x [n, d] -> [n].
 * Reference: Li & Li 2024, https://aclanthology.org/2024.acl-long.101/.
 */
export const pairwiseAngle: PairSimilarity = (x, y) =>
  tf.tidy(() => {
    const even = (t: tf.Tensor2D) => (t.shape[1] % 2 === 0 ? t : tf.pad(t, [[0, 0], [0, 1]]));
    const [a, b] = tf.split(even(x), 2, 1); // [n, d/2] each
    const [c, d] = tf.split(even(y), 2, 1);
    const yy = tf.sum(tf.add(tf.square(c), tf.square(d)), 1, true); // [n, 1]: |y|^2
    const xNorm = tf.sqrt(tf.sum(tf.add(tf.square(a), tf.square(b)), 1, true)); // [n, 1]
    const ratio = tf.div(xNorm, tf.sqrt(yy)); // |x| / |y|
    const re = tf.div(tf.div(tf.add(tf.mul(a, c), tf.mul(b, d)), yy), ratio); // [n, d/2]
    const im = tf.div(tf.div(tf.sub(tf.mul(b, c), tf.mul(a, d)), yy), ratio);
    return tf.abs(tf.sum(tf.concat([re, im], 1), 1)) as tf.Tensor1D;
  });

// ---- plain numbers ----

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return dot(a, b) / Math.max(norm(a) * norm(b), EPS);
}

export function euclidean(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export function manhattan(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s;
}

export function angular(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const c = Math.min(1, Math.max(-1, cosine(a, b)));
  return 1 - Math.acos(c) / Math.PI;
}

/** Unit-length copy of a vector (zero vectors stay zero). */
export function normalized(a: ArrayLike<number>): Float32Array {
  const n = Math.max(norm(a), EPS);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / n;
  return out;
}
