/**
 * Gradient clipping. `clipByGlobalNorm` follows torch.nn.utils.clip_grad_norm_ (norm_type 2,
 * https://github.com/pytorch/pytorch/blob/main/torch/nn/utils/clip_grad.py): the total norm is
 * the 2-norm of all gradients' 2-norms, and every gradient is multiplied by
 * min(1, max_norm / (total + 1e-6)). `clipPerVariable` is Keras' `clipnorm`: each gradient is
 * rescaled on its own to norm <= max_norm (tf.clip_by_norm).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Returns the clipped gradients (new tensors; the inputs are not disposed) and the total norm before clipping. */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const total = globalNorm(grads);
  const coef = Math.min(1, maxNorm / (total + 1e-6));
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) out.set(k, tf.tidy(() => tf.mul(g, coef)));
  return { grads: out, norm: total };
}

export function clipPerVariable(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const total = globalNorm(grads);
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) {
    out.set(
      k,
      tf.tidy(() => {
        const n = tf.norm(g).dataSync()[0];
        return n > maxNorm ? tf.mul(g, maxNorm / n) : tf.clone(g);
      }),
    );
  }
  return { grads: out, norm: total };
}

/** sqrt(sum over gradients of ||g||^2), computed in float32 on the backend like torch. */
export function globalNorm(grads: Map<string, tf.Tensor>): number {
  if (grads.size === 0) return 0;
  return tf.tidy(() => {
    const norms = [...grads.values()].map((g) => tf.norm(g));
    return tf.norm(tf.stack(norms)).dataSync()[0];
  });
}
