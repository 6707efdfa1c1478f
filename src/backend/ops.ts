/**
 * The few tensor ops the encoders are built from. Every model file calls these rather than
 * tf.* directly, so one place decides how each runs fast (forward and backward) on every
 * backend.
 *
 * Why the custom gradients: on the tfjs `wasm` backend (4.22) only an untransposed 2-D matmul
 * reaches XNNPACK's GEMM (~24 GFLOP/s on one core here); `transposeA`/`transposeB` and every
 * batched (rank-3, batch > 1) matmul fall back to a naive loop at 1-2 GFLOP/s. tfjs's own
 * matMul gradient is written with transposed matmuls, so a training step spent most of its
 * time there. Here every product, forward and backward, is an untransposed 2-D matmul (after
 * an explicit `tf.transpose`, far cheaper than the slow product) or, for the batched products of attention, a depthwise
 * convolution, which XNNPACK also runs ~3-4x faster than the batched-matmul loop (see
 * `batchedMatmulCore`). Measurements: benchmarks/RESULTS.md, "Encoder throughput".
 */
import * as tf from '@tensorflow/tfjs-core';

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
/**
 * tf.customGrad with typed positional inputs (tfjs types them as a loose
 * `(Tensor | GradSaveFunc)[]`, which a typed parameter list does not satisfy).
 */
function customGrad<A extends tf.Tensor[]>(
  f: (...args: [...A, tf.GradSaveFunc]) => { value: tf.Tensor; gradFunc: GradFn },
): (...args: A) => tf.Tensor {
  // tfjs runs a custom gradFunc outside any tidy, so its intermediates (transposed copies,
  // softmax products...) would live until the whole backward pass ends; at batch 32 that
  // alone overflowed the 4 GB wasm heap. Tidy them here, keeping only the returned gradients.
  const tidied = (...args: [...A, tf.GradSaveFunc]) => {
    const r = f(...args);
    return { value: r.value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => r.gradFunc(dy, saved)) };
  };
  return tf.customGrad(tidied as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => tf.Tensor;
}

/**
 * `f` as one op with a zero gradient for every input (as if its result were torch's
 * `detach()`ed). The ops inside run nested in the custom op, so they are not recorded for
 * backprop: comparisons, which have no gradient in tfjs, may be used, e.g. to build masks.
 */
export function nonDifferentiable<A extends tf.Tensor[]>(f: (...args: A) => tf.Tensor): (...args: A) => tf.Tensor {
  return customGrad<A>((...args) => {
    const inputs = args.slice(0, -1) as A;
    return { value: f(...inputs), gradFunc: () => inputs.map((x) => tf.zerosLike(x)) };
  });
}

let fastPaths = true;

/**
 * Benchmarks only: `false` makes every op here the plain op-by-op tf formula with tfjs's own
 * gradients (tf.matMul with transpose flags, tf.gather, ...): the "before" of
 * benchmarks/RESULTS.md. Returns the old setting.
 */
export function setFastPaths(on: boolean): boolean {
  const old = fastPaths;
  fastPaths = on;
  return old;
}

function onWasm(): boolean {
  return tf.getBackend() === 'wasm';
}

/** Plain 2-D product a @ b with a and b already laid out untransposed (the fast path everywhere). */
function mm2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, b);
}

/**
 * x^T @ y for x [n, p], y [n, q] -> [p, q] (the weight gradient of a linear layer). Transposes
 * whichever side is cheaper: x^T (n*p elements moved) or (y^T @ x)^T (n*q + p*q moved).
 */
function mmTransA(x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor2D {
  const [n, p] = x.shape;
  const q = y.shape[1];
  if (n * p <= n * q + p * q) return mm2d(tf.transpose(x), y);
  return tf.transpose(mm2d(tf.transpose(y), x));
}

/** x @ w^T for x [n, q], w [p, q] -> [n, p] (the input gradient of a linear layer): transpose the small weight. */
function mmTransB(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return mm2d(x, tf.transpose(w));
}

/**
 * Column sums of g [n, d] -> [d] (bias and LayerNorm-parameter gradients). wasm reduces over a
 * leading axis by transposing first (54 ms for 4096 x 1536 here); ones[1, n] @ g takes the
 * GEMM path instead (2.4 ms).
 */
function sumRows(g: tf.Tensor2D): tf.Tensor1D {
  if (!onWasm()) return tf.sum(g, 0);
  const [n, d] = g.shape;
  return tf.reshape(mm2d(tf.ones([1, n]), g), [d]);
}

/** y = x @ kernel + bias. x: [..., in], kernel: [in, out] (PyTorch's weight transposed), bias: [out]. */
export function linear(x: tf.Tensor, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor {
  const [inDim, outDim] = kernel.shape;
  const lead = x.shape.slice(0, -1);
  return tf.tidy(() => {
    const x2 = tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
    if (!fastPaths) return tf.reshape(bias ? tf.add(tf.matMul(x2, kernel), bias) : tf.matMul(x2, kernel), [...lead, outDim]);
    const y = bias ? linearBiasGrad(x2, kernel, bias) : linearNoBiasGrad(x2, kernel);
    return tf.reshape(y, [...lead, outDim]);
  });
}

// Gradients of y = x @ W (+ b) written with untransposed products only:
//   dx = dy @ W^T, dW = x^T @ dy, db = sum_rows(dy).
const linearBiasGrad = customGrad<[tf.Tensor2D, tf.Tensor2D, tf.Tensor1D]>((x, w, b, save) => {
  save([x, w]);
  const value = tf.add(mm2d(x, w), b);
  return {
    value,
    gradFunc: (dy, saved) => {
      const g = dy as tf.Tensor2D;
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [mmTransB(g, ws), mmTransA(xs, g), sumRows(g)];
    },
  };
});

const linearNoBiasGrad = customGrad<[tf.Tensor2D, tf.Tensor2D]>((x, w, save) => {
  save([x, w]);
  return {
    value: mm2d(x, w),
    gradFunc: (dy, saved) => {
      const g = dy as tf.Tensor2D;
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [mmTransB(g, ws), mmTransA(xs, g)];
    },
  };
});

/**
 * Batched product without gradient bookkeeping: op(a) @ op(b) where op transposes the last two
 * axes when asked. a: [n, m, k] (or [n, k, m] if transposeA), b: [n, k, p] (or [n, p, k]).
 *
 * On wasm, for n > 1, it runs as one depthwise convolution with the batch as channels:
 * input [1, k, m, n] (height k, width m), filter [k, 1, n, p] (height k, channel multiplier p),
 * 'valid' padding, so out[0, 0, i, c*p + j] = sum_t a[c, i, t] * b[c, t, j]. XNNPACK runs that
 * as a grouped GEMM, ~6 GFLOP/s against ~1.8 for tfjs-wasm's BatchMatMul loop (which has no
 * XNNPACK path for batch > 1). The operand transposes fold into the layout transposes the
 * convolution needs anyway, so transposeA/B cost nothing extra.
 */
function batchedMatmulCore(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): tf.Tensor3D {
  const n = a.shape[0];
  if (!onWasm()) return tf.matMul(a, b, transposeA, transposeB);
  const m = transposeA ? a.shape[2] : a.shape[1];
  const k = transposeA ? a.shape[1] : a.shape[2];
  const p = transposeB ? b.shape[1] : b.shape[2];
  if (n === 1) {
    const a2 = tf.reshape(a, transposeA ? [k, m] : [m, k]) as tf.Tensor2D;
    const b2 = tf.reshape(b, transposeB ? [p, k] : [k, p]) as tf.Tensor2D;
    const y = mm2d(transposeA ? tf.transpose(a2) : a2, transposeB ? tf.transpose(b2) : b2);
    return tf.reshape(y, [1, m, p]);
  }
  // [k, m, n] from a [n, m, k] (perm 2,1,0) or a^T stored as [n, k, m] (perm 1,2,0).
  const x = tf.reshape(tf.transpose(a, transposeA ? [1, 2, 0] : [2, 1, 0]), [1, k, m, n]) as tf.Tensor4D;
  // [k, n, p] from b [n, k, p] (perm 1,0,2) or b^T stored as [n, p, k] (perm 2,0,1).
  const f = tf.reshape(tf.transpose(b, transposeB ? [2, 0, 1] : [1, 0, 2]), [k, 1, n, p]) as tf.Tensor4D;
  const y = tf.depthwiseConv2d(x, f, 1, 'valid'); // [1, 1, m, n*p]
  return tf.transpose(tf.reshape(y, [m, n, p]), [1, 0, 2]);
}

/**
 * Batched matmul op(a) @ op(b), rank 3: [batch, m, k] x [batch, k, n] (op = optional transpose
 * of the last two axes, as tf.matMul). Gradients (standard identities, e.g.
 * https://people.maths.ox.ac.uk/gilesm/files/NA-08-01.pdf section 2.3.2) go through the same
 * fast core:
 *   C = A B:      dA = dC B^T,   dB = A^T dC
 *   C = A^T B:    dA = B dC^T,   dB = A dC
 *   C = A B^T:    dA = dC B,     dB = dC^T A
 *   C = A^T B^T:  dA = B^T dC^T, dB = dC^T A^T
 */
export function matmul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  if (!fastPaths) return tf.matMul(a, b, transposeA, transposeB);
  const core = batchedMatmulCore;
  const f = customGrad<[tf.Tensor3D, tf.Tensor3D]>((x, y, save) => {
    save([x, y]);
    return {
      value: core(x, y, transposeA, transposeB),
      gradFunc: (dy, saved) => {
        const g = dy as tf.Tensor3D;
        const [A, B] = saved as [tf.Tensor3D, tf.Tensor3D];
        if (!transposeA && !transposeB) return [core(g, B, false, true), core(A, g, true, false)];
        if (transposeA && !transposeB) return [core(B, g, false, true), core(A, g, false, false)];
        if (!transposeA && transposeB) return [core(g, B, false, false), core(g, A, true, false)];
        return [core(B, g, true, true), core(g, A, true, true)];
      },
    };
  });
  return f(a, b) as tf.Tensor3D;
}

/**
 * Scaled dot-product attention over heads folded into the batch axis, as one tape node:
 *   probs = softmax(q k^T * scale + bias),  out = probs v
 * q, k, v: [batch*heads, T, headDim]; bias: additive, broadcastable to [batch, heads, T, T]
 * (e.g. the padding mask as [batch, 1, 1, T] with 0 / -1e9), treated as a constant (no
 * gradient; pass trainable position biases through the op-by-op path instead). Returns
 * [batch*heads, T, headDim].
 *
 * Why fused: tfjs keeps the gradient of every intermediate tensor until the whole backward
 * pass ends, so the op-by-op version held ~5 [batch*heads, T, T] tensors per layer on top of
 * the saved activations; here the tape holds q, k, v, probs and the output only. The gradient
 * (Vaswani et al. 2017, https://arxiv.org/abs/1706.03762; softmax Jacobian-vector product):
 *   dP = dO v^T, dV = P^T dO, dZ = P * (dP - rowsum(dP * P)), dS = scale * dZ,
 *   dQ = dS k, dK = dS^T q.
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, bias: tf.Tensor | null, scale: number): tf.Tensor3D {
  const [n, t] = q.shape;
  const probsOf = (qs: tf.Tensor3D, ks: tf.Tensor3D): tf.Tensor3D => {
    // Plain mode (benchmarks' "before") must stay differentiable by tfjs itself: no depthwise-conv core.
    const qk = fastPaths ? batchedMatmulCore(qs, ks, false, true) : tf.matMul(qs, ks, false, true);
    let z: tf.Tensor = tf.mul(qk, scale); // [n, T, T]
    if (bias) {
      const batch = bias.shape[0] === 1 ? 1 : bias.shape[0]!;
      z = tf.reshape(tf.add(tf.reshape(z, [batch, n / batch, t, t]), bias), [n, t, t]);
    }
    return tf.softmax(z) as tf.Tensor3D;
  };
  if (!fastPaths) return tf.tidy(() => tf.matMul(probsOf(q, k), v));
  const f = customGrad<[tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]>((qs, ks, vs, save) => {
    const probs = probsOf(qs, ks);
    save([qs, ks, vs, probs]);
    return {
      value: batchedMatmulCore(probs, vs, false, false),
      gradFunc: (dy, saved) => {
        const dO = dy as tf.Tensor3D;
        const [Q, K, V, P] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const dP = batchedMatmulCore(dO, V, false, true); // [n, T, T]
        const dV = batchedMatmulCore(P, dO, true, false);
        const dZ = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), -1, true)));
        const dS = tf.mul(dZ, scale) as tf.Tensor3D;
        return [batchedMatmulCore(dS, K, false, false), batchedMatmulCore(dS, Q, true, false), dV];
      },
    };
  });
  return f(q, k, v) as tf.Tensor3D;
}

/**
 * Rows of an embedding table: table [vocab, dim], ids (host int32, of `shape`) -> [...shape, dim].
 *
 * The gradient is the scatter-add of the incoming rows into a [vocab, dim] zero table. tfjs
 * writes gather's gradient with `UnsortedSegmentSum`, which the wasm backend lacks (we
 * register a JS fallback for it in wasm-kernels.ts for any other tf.gather); here we use
 * `tf.scatterND`, which every backend implements natively and which sums duplicate ids (as
 * TensorFlow's scatter_nd: https://www.tensorflow.org/api_docs/python/tf/scatter_nd).
 */
export function embeddingLookup(table: tf.Tensor2D, ids: Int32Array, shape: number[]): tf.Tensor {
  // The ids come from the host: the gradient needs them after the caller's tidy has ended,
  // and reading them back from a GPU backend would need an (asynchronous) download.
  return tf.tidy(() => {
    const idTensor = tf.tensor(ids, shape, 'int32');
    if (!fastPaths) return tf.gather(table, idTensor);
    const [vocab, dim] = table.shape;
    const idData = Int32Array.from(ids);
    const f = customGrad<[tf.Tensor2D]>((t) => ({
      value: tf.gather(t, idTensor),
      gradFunc: (dy) => {
        const rows = tf.reshape(dy, [-1, dim]);
        const idx = tf.tensor2d(idData, [idData.length, 1], 'int32');
        return [tf.scatterND(idx, rows, [vocab, dim])];
      },
    }));
    return f(table);
  });
}

/**
 * LayerNorm over the last axis, as torch.nn.LayerNorm (biased variance).
 *
 * With a hand-written gradient that keeps only x_hat and 1/sigma for the backward pass (the
 * op-by-op version made the tape hold ~6 activations per call; at batch 32 x 128 tokens the
 * whole MiniLM training step no longer fitted the wasm heap). With x_hat = (x - mean) / sigma:
 *   d_gamma = sum(dy * x_hat), d_beta = sum(dy), g = dy * gamma,
 *   dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sigma      (means over the normalised axis)
 * (Ba et al. 2016, https://arxiv.org/abs/1607.06450; the same formula as PyTorch's
 * layer_norm_backward.)
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  if (!fastPaths) return layerNormNaive(x, gamma, beta, eps);
  const d = x.shape[x.shape.length - 1]!;
  const f = customGrad<[tf.Tensor, tf.Tensor1D, tf.Tensor1D]>((xs, g, b, save) => {
    const mean = tf.mean(xs, -1, true);
    const centered = tf.sub(xs, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), eps));
    const xhat = tf.mul(centered, rstd);
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, saved) => {
        const [xh, rs, gm] = saved as [tf.Tensor, tf.Tensor, tf.Tensor1D];
        const dy2 = tf.reshape(dy, [-1, d]);
        const dGamma = sumRows(tf.mul(dy2, tf.reshape(xh, [-1, d])) as tf.Tensor2D);
        const dBeta = sumRows(dy2 as tf.Tensor2D);
        const gx = tf.mul(dy, gm);
        const dx = tf.mul(tf.sub(tf.sub(gx, tf.mean(gx, -1, true)), tf.mul(xh, tf.mean(tf.mul(gx, xh), -1, true))), rs);
        return [dx, dGamma, dBeta];
      },
    };
  });
  return f(x, gamma, beta);
}

function layerNormNaive(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), -1, true);
    return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * Exact GELU, x * Phi(x), as torch's default `gelu` (HF "gelu"); Hendrycks & Gimpel,
 * https://arxiv.org/abs/1606.08415. Gradient Phi(x) + x * phi(x), from x alone, so the tape
 * keeps one tensor instead of five.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (!fastPaths) return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
  const f = customGrad<[tf.Tensor]>((xs, save) => {
    save([xs]);
    return {
      value: tf.mul(tf.mul(xs, 0.5), tf.add(1, tf.erf(tf.mul(xs, Math.SQRT1_2)))),
      gradFunc: (dy, saved) => {
        const v = saved[0]!;
        const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(v, Math.SQRT1_2))));
        const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(tf.square(v), -0.5)));
        return [tf.mul(dy, tf.add(cdf, tf.mul(v, pdf)))];
      },
    };
  });
  return f(x);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * tanh-approximated GELU (HF "gelu_new" / "gelu_pytorch_tanh"):
 * 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2 / pi). Gradient, with t = tanh(...):
 * 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 * 0.044715 x^2).
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const tanhPart = (v: tf.Tensor) => tf.tanh(tf.mul(tf.add(v, tf.mul(tf.pow(v, 3), 0.044715)), GELU_C));
  if (!fastPaths) return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tanhPart(x))));
  const f = customGrad<[tf.Tensor]>((xs, save) => {
    save([xs]);
    return {
      value: tf.mul(tf.mul(xs, 0.5), tf.add(1, tanhPart(xs))),
      gradFunc: (dy, saved) => {
        const v = saved[0]!;
        const t = tanhPart(v);
        const left = tf.mul(0.5, tf.add(1, t));
        const inner = tf.mul(GELU_C, tf.add(1, tf.mul(3 * 0.044715, tf.square(v))));
        const right = tf.mul(tf.mul(tf.mul(0.5, v), tf.sub(1, tf.square(t))), inner);
        return [tf.mul(dy, tf.add(left, right))];
      },
    };
  });
  return f(x);
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
