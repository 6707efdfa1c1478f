/**
 * Gradient rules as ONNX ops, one function per forward op of the encoder lowering
 * (./encoder.ts), and the backward graph of the whole sentence encoder built from them.
 *
 * Each rule takes the saved forward activations it needs (outputs of the training forward
 * graph, ./train-graph.ts) and the incoming gradient, and returns the gradients of its inputs.
 * They are the rules src/backend/ops.ts writes for tfjs (linear, LayerNorm from x alone,
 * exact GELU as Phi(x) + x phi(x), attention, embeddings), plus pooling, Dense and Normalize,
 * whose tfjs gradients come from tfjs's own op gradients:
 *
 *   linear      y = x W + b           dx = dy W^T, dW = x^T dy, db = sum_rows dy
 *   LayerNorm   y = xhat g + b        dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
 *                                     dxhat = dy g, dg = sum_rows dy xhat, db = sum_rows dy
 *   softmax     p = softmax(s)        ds = p (dp - sum_last(dp p))
 *   attention   o = softmax(q k^T c + bias) v
 *   GELU        y = x Phi(x)          dx = dy (Phi(x) + x phi(x))
 *   normalize   y = x / max(|x|, e)   dx = dy / d - x sum(dy x) / (d^2 |x|) [|x| >= e]
 *   pooling     linear in the tokens (mean, cls, ...) or a selection (max: all ties, as tfjs)
 *
 * The embedding lookups (Gather) end the graph: their gradient, a scatter-add of the rows of
 * d(embeddings sum) into the tables, runs on the host (./training.ts), in a fixed order, so it is
 * deterministic and never materialises a dense [vocab, hidden] zero tensor in the graph.
 *
 * Derivations: the chain rule on each formula; LayerNorm as in Ba et al. 2016
 * (https://arxiv.org/abs/1607.06450), attention as Vaswani et al. 2017.
 */
import type { TransformerConfig } from '../../models/config.js';
import type { PoolingMode } from '../../models/pooling.js';
import { paramSpecs } from '../../models/transformer.js';
import { activation, type EncoderSpec } from './encoder.js';
import { DataType, GraphBuilder, attr } from './graph.js';

export interface LinearGrads {
  dx: string;
  dW: string;
  db: string;
}

/** y = x W + b with x [N, in], W [in, out], dy [N, out]. dx is skipped when `needDx` is false. */
export function linearBackward(g: GraphBuilder, x: string, w: string, dy: string, needDx = true): LinearGrads & { dx: string } {
  const dW = g.op('Gemm', [x, dy], { transA: attr.i(1) }); // [in, out]
  const db = g.reduceSum(dy, [0], false); // [out]
  const dx = needDx ? g.op('Gemm', [dy, w], { transB: attr.i(1) }) : ''; // [N, in]
  return { dx, dW, db };
}

/** LayerNorm over the last axis of x [N, H] (recomputes mean and 1/sigma from x). */
export function layerNormBackward(g: GraphBuilder, x: string, gamma: string, dy: string, eps: number): { dx: string; dGamma: string; dBeta: string } {
  const mean = (t: string) => g.op('ReduceMean', [t], { axes: attr.ints([-1]), keepdims: attr.i(1) });
  const centered = g.sub(x, mean(x));
  const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.add(mean(g.mul(centered, centered)), g.float(eps))])]); // [N, 1]
  const xhat = g.mul(centered, rstd);
  const dGamma = g.reduceSum(g.mul(dy, xhat), [0], false);
  const dBeta = g.reduceSum(dy, [0], false);
  const dxhat = g.mul(dy, gamma);
  const dx = g.mul(g.sub(g.sub(dxhat, mean(dxhat)), g.mul(xhat, mean(g.mul(dxhat, xhat)))), rstd);
  return { dx, dGamma, dBeta };
}

/** Softmax over the last axis, from its output p. An additive mask needs nothing more: its gradient is dropped. */
export function softmaxBackward(g: GraphBuilder, p: string, dp: string): string {
  return g.mul(p, g.sub(dp, g.reduceSum(g.mul(dp, p), [-1], true)));
}

/** An activation's gradient (names as src/backend/ops.ts `activation`), from its input x and output y. */
export function activationBackward(g: GraphBuilder, name: string, x: string, y: string, dy: string): string {
  switch (name) {
    case 'gelu': {
      const cdf = g.mul(g.float(0.5), g.add(g.float(1), g.op('Erf', [g.mul(x, g.float(Math.SQRT1_2))])));
      const pdf = g.mul(g.float(1 / Math.sqrt(2 * Math.PI)), g.op('Exp', [g.mul(g.mul(x, x), g.float(-0.5))]));
      return g.mul(dy, g.add(cdf, g.mul(x, pdf)));
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      const c = Math.sqrt(2 / Math.PI);
      const x2 = g.mul(x, x);
      const t = g.op('Tanh', [g.mul(g.add(x, g.mul(g.mul(x2, x), g.float(0.044715))), g.float(c))]);
      const left = g.mul(g.float(0.5), g.add(g.float(1), t));
      const inner = g.mul(g.float(c), g.add(g.float(1), g.mul(x2, g.float(3 * 0.044715))));
      const right = g.mul(g.mul(g.mul(x, g.float(0.5)), g.sub(g.float(1), g.mul(t, t))), inner);
      return g.mul(dy, g.add(left, right));
    }
    case 'relu':
      return g.mul(dy, g.cast(g.op('Greater', [x, g.float(0)]), DataType.FLOAT));
    case 'tanh':
      return g.mul(dy, g.sub(g.float(1), g.mul(y, y)));
    case 'sigmoid':
      return g.mul(dy, g.mul(y, g.sub(g.float(1), y)));
    case 'silu':
    case 'swish': {
      const s = g.op('Sigmoid', [x]);
      return g.mul(dy, g.mul(s, g.add(g.float(1), g.mul(x, g.sub(g.float(1), s)))));
    }
    case 'identity':
    case 'linear':
      return dy;
    default:
      throw new Error(`unsupported activation '${name}'`);
  }
}

/**
 * Row-wise y = x / max(|x|, 1e-12) (src/similarity l2Normalize, tfjs gradients: tf.maximum
 * sends the gradient to the norm where |x| >= eps).
 */
export function normalizeBackward(g: GraphBuilder, x: string, dy: string): string {
  const eps = g.float(1e-12);
  const n = g.reduce('ReduceL2', x, [-1], true); // [B, 1]
  const d = g.op('Max', [n, eps]);
  const dd = g.div(g.op('Neg', [g.reduceSum(g.mul(dy, x), [-1], true)]), g.mul(d, d)); // d loss / d d
  const dn = g.mul(dd, g.cast(g.op('GreaterOrEqual', [n, eps]), DataType.FLOAT));
  // d|x|/dx = x / |x|; where the mask is 1, d = |x| > 0.
  return g.add(g.div(dy, d), g.mul(g.div(dn, d), x));
}

/**
 * Pooling's gradient: d pooled [B, H * modes] -> d tokens [B, T, H]. `saved` holds the max
 * pooling's input and output (the only mode that is not linear in the tokens).
 */
export function poolingBackward(g: GraphBuilder, dPooled: string, attentionMask: string, modes: PoolingMode[], H: number, saved: (key: string) => string): string {
  const m = g.unsqueeze(g.cast(attentionMask, DataType.FLOAT), [-1]); // [B, T, 1]
  const seqLen = g.dim(attentionMask, 1);
  const count = () => g.op('Max', [g.reduceSum(m, [1], false), g.float(1e-9)]); // [B, 1]
  const spread = (dRow: string, weights: string) => g.mul(g.unsqueeze(dRow, [1]), weights); // [B, 1, H] x [B|1, T, 1]
  let total: string | null = null;
  modes.forEach((mode, j) => {
    const dp = modes.length === 1 ? dPooled : g.op('Slice', [dPooled, g.int64([j * H]), g.int64([(j + 1) * H]), g.int64([1])]); // [B, H]
    let d: string;
    switch (mode) {
      case 'mean':
        d = spread(g.div(dp, count()), m);
        break;
      case 'mean_sqrt_len':
        d = spread(g.div(dp, g.op('Sqrt', [count()])), m);
        break;
      case 'weightedmean': {
        const positions = g.cast(g.op('Range', [g.int64(1), g.add(seqLen, g.int64(1)), g.int64(1)]), DataType.FLOAT);
        const w = g.mul(g.reshape(positions, [1, -1, 1]), m); // [B, T, 1]
        d = spread(g.div(dp, g.op('Max', [g.reduceSum(w, [1], false), g.float(1e-9)])), w);
        break;
      }
      case 'cls': {
        const first = g.cast(g.op('Equal', [g.op('Range', [g.int64(0), seqLen, g.int64(1)]), g.int64(0)]), DataType.FLOAT);
        d = spread(dp, g.reshape(first, [1, -1, 1]));
        break;
      }
      case 'lasttoken': {
        const last = g.op('Max', [g.sub(g.reduceSum(attentionMask, [1], true), g.int64(1)), g.int64(0)]); // [B, 1]
        const range = g.unsqueeze(g.op('Range', [g.int64(0), seqLen, g.int64(1)]), [0]); // [1, T]
        d = spread(dp, g.unsqueeze(g.cast(g.op('Equal', [range, last]), DataType.FLOAT), [-1]));
        break;
      }
      case 'max': {
        // tfjs's max gradient goes to every position equal to the max; the -1e9 fill is constant.
        const hit = g.cast(g.op('Equal', [saved('pooling.max_input'), g.unsqueeze(saved('pooling.max'), [1])]), DataType.FLOAT); // [B, T, H]
        d = g.mul(g.mul(hit, g.unsqueeze(dp, [1])), m);
        break;
      }
    }
    total = total === null ? d : g.add(total, d);
  });
  return total!;
}

/** What the backward graph gives besides one gradient per weight. */
export const EMBEDDINGS_SUM_GRAD = 'grad.embeddings.sum';
export const POSITION_BIAS_GRAD = 'grad.position_bias';

/** The names a weight's gradient output gets. */
export const gradName = (weight: string): string => `grad.${weight}`;

export interface BackwardGraph {
  graph: GraphBuilder;
  /** Saved activation keys the graph reads (their tensor names come from the forward graph). */
  savedKeys: string[];
  /** Weights the graph reads (W of linears for dx, LayerNorm gammas). */
  weightInputs: string[];
  /** Weights that get a `grad.<name>` output. */
  gradWeights: string[];
}

/** Weight names by role for layer i, from paramSpecs (the order ./encoder.ts checks). */
function layerPrefixes(cfg: TransformerConfig, layer: number): Record<'q' | 'k' | 'v' | 'o' | 'ln1' | 'ffIn' | 'ffOut' | 'ln2', string> {
  const specs = paramSpecs(cfg).filter((s) => s.group === layer);
  const p = (i: number) => specs[2 * i].name.replace(/\.weight$/, '');
  return { q: p(0), k: p(1), v: p(2), o: p(3), ln1: p(4), ffIn: p(5), ffOut: p(6), ln2: p(7) };
}

/** The declared shape of a saved activation (symbolic where it depends on the batch). */
export function savedDims(spec: EncoderSpec, key: string): (number | string)[] {
  const cfg = spec.config;
  const nh = cfg.numHeads;
  const hd = cfg.hiddenSize / nh;
  const H = cfg.hiddenSize;
  if (/\.(q|v)$/.test(key)) return ['batch_size', nh, 'sequence_length', hd];
  if (/\.kT$/.test(key)) return ['batch_size', nh, hd, 'sequence_length'];
  if (/\.probs$/.test(key)) return ['batch_size', nh, 'sequence_length', 'sequence_length'];
  if (key === 'embeddings.sum' || key === 'pooling.max_input') return ['batch_size', 'sequence_length', H];
  if (key.startsWith('layer.')) return ['tokens', /ff_(pre|act)$/.test(key) ? cfg.intermediateSize : H];
  return ['batch_size', `${key.replace(/\W/g, '_')}_width`];
}

/** The backward graph's input for the saved activation `key` (the engine feeds the forward output there). */
export const savedInputName = (key: string): string => `saved.${key}`;

/**
 * The backward graph of the sentence encoder: inputs attention_mask, d_sentence_embedding,
 * the saved activations (as `saved.<key>`) and the weights it reads; outputs
 * `grad.<weight>` for every weight but the embedding tables, d(embeddings sum) [B*T, H] and,
 * for MPNet, d(relative position bias) [heads, T, T] summed over the batch.
 */
export function buildBackwardGraph(spec: EncoderSpec): BackwardGraph {
  const cfg = spec.config;
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = H / nh;
  const g = new GraphBuilder('sentence_encoder_backward');
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'sequence_length']);
  const dims = (key: string) => savedDims(spec, key);
  const savedKeys: string[] = [];
  const savedInputs = new Map<string, string>();
  const saved = (key: string): string => {
    let t = savedInputs.get(key);
    if (!t) {
      t = g.input(savedInputName(key), DataType.FLOAT, dims(key));
      savedInputs.set(key, t);
      savedKeys.push(key);
    }
    return t;
  };
  const weightInputs: string[] = [];
  const weight = (name: string, shape: number[]): string => {
    weightInputs.push(name);
    return g.input(name, DataType.FLOAT, shape);
  };
  const gradWeights: string[] = [];
  const grad = (name: string, t: string, shape: number[]) => {
    gradWeights.push(name);
    g.output(gradName(name), t, DataType.FLOAT, shape);
  };
  const dimOut = spec.dense.length ? spec.dense[spec.dense.length - 1].outFeatures : H * spec.pooling.length;
  let dx = g.input('d_sentence_embedding', DataType.FLOAT, ['batch_size', dimOut]);

  if (spec.normalize) dx = normalizeBackward(g, saved('normalize.input'), dx);
  for (let i = spec.dense.length - 1; i >= 0; i--) {
    const d = spec.dense[i];
    const prefix = `dense.${i}.linear`;
    const dPre = activationBackward(g, d.activation, saved(`dense.${i}.pre`), saved(`dense.${i}.output`), dx);
    const w = weight(`${prefix}.weight`, [d.inFeatures, d.outFeatures]);
    const r = linearBackward(g, saved(`dense.${i}.input`), w, dPre);
    grad(`${prefix}.weight`, r.dW, [d.inFeatures, d.outFeatures]);
    if (d.bias) grad(`${prefix}.bias`, r.db, [d.outFeatures]);
    dx = r.dx;
  }
  dx = g.reshape(poolingBackward(g, dx, mask, spec.pooling, H, saved), [-1, H]); // [B*T, H]

  const headsShape = g.op('Concat', [g.op('Shape', [mask]), g.int64([nh, hd])], { axis: attr.i(0) });
  const toHeads = (t: string) => g.transpose(g.op('Reshape', [t, headsShape]), [0, 2, 1, 3]); // [B*T, H] -> [B, nh, T, hd]
  const fromHeads = (t: string, perm: number[]) => g.reshape(g.transpose(t, perm), [-1, H]); // -> [B*T, H]
  const swapLast = (t: string) => g.transpose(t, [0, 1, 3, 2]);
  const scale = g.float(1 / Math.sqrt(hd));
  // As the forward: 0 where attended, -1e9 where padded. [B, 1, 1, T]
  const maskBias = g.mul(g.sub(g.float(1), g.unsqueeze(g.cast(mask, DataType.FLOAT), [1, 2])), g.float(-1e9));
  let dPositionBias: string | null = null;
  const ln = (prefix: string, x: string, dy: string) => {
    const r = layerNormBackward(g, x, weight(`${prefix}.weight`, [H]), dy, cfg.layerNormEps);
    grad(`${prefix}.weight`, r.dGamma, [H]);
    grad(`${prefix}.bias`, r.dBeta, [H]);
    return r.dx;
  };
  const lin = (prefix: string, x: string, dy: string, inDim: number, outDim: number) => {
    const r = linearBackward(g, x, weight(`${prefix}.weight`, [inDim, outDim]), dy);
    grad(`${prefix}.weight`, r.dW, [inDim, outDim]);
    grad(`${prefix}.bias`, r.db, [outDim]);
    return r.dx;
  };

  for (let i = cfg.numLayers - 1; i >= 0; i--) {
    const n = layerPrefixes(cfg, i);
    const s = (what: string) => saved(`layer.${i}.${what}`);
    const I = cfg.intermediateSize;
    // x = LN2(attended + FFN(attended))
    // The two [B, nh, T, T] / [B*T, I] activations that are cheapest to recompute are not
    // saved: the attention probabilities (one q k^T product and a softmax, ~3% of a forward
    // at MiniLM size; MPNet keeps them, its position bias lives in the forward graph) and the
    // FFN activation. Moving them out of onnxruntime and back cost more than computing them.
    const ffPre = s('ff_pre');
    const ffAct = activation(g, cfg.hiddenAct, ffPre);
    const dRes2 = ln(n.ln2, s('residual2'), dx);
    const dAct = lin(n.ffOut, ffAct, dRes2, I, H);
    const dPre = activationBackward(g, cfg.hiddenAct, ffPre, ffAct, dAct);
    const dAttended = g.add(dRes2, lin(n.ffIn, s('attended'), dPre, H, I));
    // attended = LN1(input + O(context))
    const dRes1 = ln(n.ln1, s('residual1'), dAttended);
    const dCtx = toHeads(lin(n.o, s('context'), dRes1, H, H)); // [B, nh, T, hd]
    const probs = cfg.architecture === 'mpnet' ? s('probs') : g.op('Softmax', [g.add(g.mul(g.matmul(s('q'), s('kT')), scale), maskBias)], { axis: attr.i(-1) });
    const dProbs = g.matmul(dCtx, swapLast(s('v'))); // [B, nh, T, T]
    const dV = g.matmul(swapLast(probs), dCtx); // [B, nh, T, hd]
    const dScores = softmaxBackward(g, probs, dProbs);
    if (cfg.architecture === 'mpnet') {
      const d = g.reduceSum(dScores, [0], false); // [nh, T, T]
      dPositionBias = dPositionBias === null ? d : g.add(dPositionBias, d);
    }
    const dScaled = g.mul(dScores, scale);
    const dQ = g.matmul(dScaled, swapLast(s('kT'))); // [B, nh, T, hd]
    const dKT = g.matmul(swapLast(s('q')), dScaled); // [B, nh, hd, T]
    const input = s('input');
    const dxq = lin(n.q, input, fromHeads(dQ, [0, 2, 1, 3]), H, H);
    const dxk = lin(n.k, input, fromHeads(dKT, [0, 3, 1, 2]), H, H);
    const dxv = lin(n.v, input, fromHeads(dV, [0, 2, 1, 3]), H, H);
    dx = g.add(g.add(g.add(dRes1, dxq), dxk), dxv);
  }
  const dSum = ln('embeddings.LayerNorm', g.reshape(saved('embeddings.sum'), [-1, H]), dx);
  g.output(EMBEDDINGS_SUM_GRAD, dSum, DataType.FLOAT, ['tokens', H]);
  if (dPositionBias) g.output(POSITION_BIAS_GRAD, dPositionBias, DataType.FLOAT, [nh, 'sequence_length', 'sequence_length']);
  return { graph: g, savedKeys, weightInputs, gradWeights };
}
