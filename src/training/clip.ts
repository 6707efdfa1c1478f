/**
 * Gradient clipping. `clipByGlobalNorm` follows torch.nn.utils.clip_grad_norm_ (norm_type 2,
 * https://github.com/pytorch/pytorch/blob/main/torch/nn/utils/clip_grad.py): the total norm is
 * the 2-norm of all gradients' 2-norms, and every gradient is multiplied by
 * min(1, max_norm / (total + 1e-6)). `clipPerVariable` is Keras' `clipnorm`: each gradient is
 * rescaled on its own to norm <= max_norm (tf.clip_by_norm).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Recipe } from '../recipe/index.js';

/**
 * Returns the clipped gradients (new tensors; the inputs are not disposed) and the total norm
 * before clipping, as a scalar tensor the caller reads (asynchronously) and disposes. Nothing
 * here waits for the device.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  const coef = tf.tidy(() => tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)))); // torch: clamp(max_norm / (total + 1e-6), max=1)
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) out.set(k, tf.mul(g, coef));
  coef.dispose();
  return { grads: out, norm };
}

export function clipPerVariable(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const out = new Map<string, tf.Tensor>();
  // min(1, max / ||g||) is 1 (an exact no-op) at or below the limit, and for a zero gradient.
  for (const [k, g] of grads) out.set(k, tf.tidy(() => tf.mul(g, tf.minimum(1, tf.div(maxNorm, tf.norm(g))))));
  return { grads: out, norm: globalNorm(grads) };
}

/** sqrt(sum over gradients of ||g||^2), computed in float32 on the backend like torch. */
export function globalNorm(grads: Map<string, tf.Tensor>): tf.Scalar {
  if (grads.size === 0) return tf.scalar(0);
  return tf.tidy(() => tf.norm(tf.stack([...grads.values()].map((g) => tf.norm(g)))) as tf.Scalar);
}

/**
 * The recipe's clipping (optimizer.clip_grad_norm / clip_scope) applied to `grads`: the
 * gradients to step with and the total norm before clipping. When it clips, the inputs are
 * disposed and new tensors returned; without clipping the same map comes back.
 */
export function clipAsRecipe(grads: Map<string, tf.Tensor>, optimizer: Recipe['optimizer']): { grads: Map<string, tf.Tensor>; norm: tf.Scalar } {
  const clip = optimizer.clip_grad_norm;
  if (clip === null) return { grads, norm: globalNorm(grads) };
  const clipped = optimizer.clip_scope === 'global' ? clipByGlobalNorm(grads, clip) : clipPerVariable(grads, clip);
  for (const g of grads.values()) g.dispose();
  return clipped;
}
