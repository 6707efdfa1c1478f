/**
 * The few tensor ops the encoders are built from. Every model file calls these rather than
 * tf.* directly, so one place decides how each runs fast (forward and backward) on every
 * backend.
 */
import * as tf from '@tensorflow/tfjs-core';

/** y = x @ kernel + bias. x: [..., in], kernel: [in, out] (PyTorch's weight transposed), bias: [out]. */
export function linear(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  return tf.tidy(() => {
    const inDim = kernel.shape[0];
    const outDim = kernel.shape[1];
    const lead = x.shape.slice(0, -1);
    let y: tf.Tensor = tf.matMul(tf.reshape(x, [-1, inDim]) as tf.Tensor2D, kernel);
    if (bias) y = tf.add(y, bias);
    return tf.reshape(y, [...lead, outDim]);
  });
}

/** Batched matmul a @ b (optionally transposed), rank 3: [batch, m, k] x [batch, k, n]. */
export function matmul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  return tf.matMul(a, b, transposeA, transposeB);
}

/** Rows of an embedding table: table [vocab, dim], ids int32 [...] -> [..., dim]. */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  return tf.gather(table, ids);
}

/** LayerNorm over the last axis, as torch.nn.LayerNorm (biased variance). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}

/** Exact GELU, x * Phi(x), as torch's default `gelu` (HF "gelu"). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** tanh-approximated GELU (HF "gelu_new" / "gelu_pytorch_tanh"). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return geluTanh;
    case 'relu':
      return (x) => tf.relu(x);
    case 'tanh':
      return (x) => tf.tanh(x);
    case 'silu':
    case 'swish':
      return (x) => tf.mul(x, tf.sigmoid(x));
    case 'identity':
    case 'linear':
      return (x) => x;
    case 'sigmoid':
      return (x) => tf.sigmoid(x);
    default:
      throw new Error(`unsupported activation '${name}'`);
  }
}
