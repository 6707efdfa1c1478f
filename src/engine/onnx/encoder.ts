/**
 * The sentence encoder (Transformer -> Pooling -> Dense* -> Normalize?) lowered to an ONNX
 * graph. It reads everything from the objects the tfjs path runs on (TransformerConfig,
 * `paramSpecs` for the weight names, the encoder's pooling modes, Dense layers and Normalize
 * flag, `relativePositionBucket` for MPNet), so the two stay one model; test/onnx-parity
 * runs both on every architecture and pooling mode and fails on any drift.
 *
 * The math follows src/models/transformer.ts and pooling.ts op for op (same order of
 * operations, same -1e9 mask, same 1e-9 / 1e-12 floors), which in turn follow Hugging Face
 * transformers' modeling_{bert,distilbert,roberta,mpnet}.py and sentence-transformers'
 * Pooling.py / Dense.py / Normalize.py.
 *
 * Graph signature (what transformers.js and optimum exports use):
 *   inputs  input_ids, attention_mask [, token_type_ids]   int64 [batch, sequence]
 *   outputs last_hidden_state                              float [batch, sequence, hidden]
 *           sentence_embedding                             float [batch, dim]
 * Linear weights are initializers named as in the checkpoint but stored [in, out] (tfjs's
 * layout, PyTorch's transposed) so every projection is a plain MatMul.
 */
import type { LayerNames } from '../../models/transformer.js';
import { readToHost } from '../../backend/index.js';
import type { TransformerConfig } from '../../models/config.js';
import type { PoolingMode } from '../../models/pooling.js';
import type { SentenceEncoder } from '../../models/sentence-encoder.js';
import { paramSpecs, relativePositionBucket } from '../../models/transformer.js';
import { DataType, GraphBuilder, attr } from './graph.js';
import type { ModelData } from './proto.js';

export interface DenseSpec {
  inFeatures: number;
  outFeatures: number;
  /** Our activation name ('tanh', 'identity', 'gelu', ...), as src/backend/ops.ts `activation`. */
  activation: string;
  bias: boolean;
}

/** What the graph is built from: shapes and options, no tensors. */
export interface EncoderSpec {
  config: TransformerConfig;
  pooling: PoolingMode[];
  dense: DenseSpec[];
  normalize: boolean;
}

/** A weight by name: values in the encoder's internal layout (linear kernels [in, out]) and that shape. */
export type NamedWeights = Map<string, { data: Float32Array; shape: number[] }>;

/** The spec of a loaded encoder (read from the same objects its tfjs forward pass uses). */
export function encoderSpec(encoder: SentenceEncoder): EncoderSpec {
  // SentenceEncoder keeps its Dense layers private; read them here rather than re-parse the folder.
  const dense = encoder['parts'].dense.map((d) => ({ inFeatures: d.inFeatures, outFeatures: d.outFeatures, activation: d.activationName, bias: d.bias !== null }));
  return { config: encoder.config, pooling: encoder.poolingModes, dense, normalize: encoder.normalizes };
}

/** Every weight of the encoder, read to the host, by its checkpoint name (Dense: `dense.{i}.linear.*`). */
export async function encoderWeights(encoder: SentenceEncoder): Promise<NamedWeights> {
  const vars = encoder.namedWeights();
  const values = await readToHost(vars);
  const out: NamedWeights = new Map();
  for (const [name, v] of vars) out.set(name, { data: values.get(name)!, shape: [...v.shape] });
  return out;
}

/**
 * Where the lowering gets a weight tensor from, by checkpoint name and expected shape: an
 * initializer for export and inference; a graph input where weights are fed (training).
 */
export type WeightSource = (g: GraphBuilder, name: string, shape: number[]) => string;

/** Weights as initializers, from host values (checked against the shape the lowering expects). */
export function initializerWeights(weights: NamedWeights): WeightSource {
  return (g, name, shape) => {
    const w = weights.get(name);
    if (!w) throw new Error(`internal: no weight ${name}`);
    if (w.shape.join() !== shape.join()) throw new Error(`internal: ${name} has shape [${w.shape}], the graph expects [${shape}]`);
    return g.floats(name, shape, w.data);
  };
}

/** The names of one layer's weights, by role, in the order paramSpecs lists them (the tfjs model's own type). */
type LayerWeights = LayerNames;

const LAYER_ROLES: (keyof LayerWeights)[] = ['q', 'k', 'v', 'o', 'ln1', 'ffIn', 'ffOut', 'ln2'];

/**
 * Layer i's weight prefixes, taken from `paramSpecs` (the list the tfjs model loads), which
 * lists each layer as q, k, v, o, attention LayerNorm, FFN in, FFN out, output LayerNorm,
 * each as .weight then .bias. Checked, so a reordering there fails loudly here.
 */
function layerWeights(cfg: TransformerConfig, layer: number): LayerWeights {
  const specs = paramSpecs(cfg).filter((s) => s.group === layer);
  const linearRoles = new Set(['q', 'k', 'v', 'o', 'ffIn', 'ffOut']);
  if (specs.length !== 2 * LAYER_ROLES.length) throw new Error(`internal: layer ${layer} has ${specs.length} weights, expected ${2 * LAYER_ROLES.length}`);
  const out = {} as LayerWeights;
  LAYER_ROLES.forEach((role, i) => {
    const w = specs[2 * i];
    const b = specs[2 * i + 1];
    const prefix = w.name.replace(/\.weight$/, '');
    if (!w.name.endsWith('.weight') || b.name !== `${prefix}.bias` || w.linear !== linearRoles.has(role)) {
      throw new Error(`internal: unexpected weight order in layer ${layer} at ${w.name}`);
    }
    out[role] = prefix;
  });
  return out;
}

/** An activation by our name (src/backend/ops.ts `activation`), as ONNX ops (the backward graph recomputes with it too). */
export function activation(g: GraphBuilder, name: string, x: string): string {
  switch (name) {
    case 'gelu':
      // exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)). ops.ts multiplies by 1/sqrt 2 (one ulp
      // apart); this is the form onnxruntime's GeluFusion recognises, which turns the five
      // element-wise passes into one Gelu kernel.
      return g.mul(g.mul(x, g.float(0.5)), g.add(g.op('Erf', [g.div(x, g.float(Math.SQRT2))]), g.float(1)));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      const cube = g.mul(g.op('Pow', [x, g.float(3)]), g.float(0.044715));
      const t = g.op('Tanh', [g.mul(g.add(x, cube), g.float(Math.sqrt(2 / Math.PI)))]);
      return g.mul(g.mul(x, g.float(0.5)), g.add(g.float(1), t));
    }
    case 'relu':
      return g.op('Relu', [x]);
    case 'tanh':
      return g.op('Tanh', [x]);
    case 'sigmoid':
      return g.op('Sigmoid', [x]);
    case 'silu':
    case 'swish':
      return g.mul(x, g.op('Sigmoid', [x]));
    case 'identity':
    case 'linear':
      return x;
    default:
      throw new Error(`unsupported activation '${name}'`);
  }
}

/**
 * Sees the intermediate tensors the backward pass needs (see ./backward.ts), by a key such
 * as `layer.3.probs`: the training forward graph makes them outputs. Inference passes none.
 */
export type ActivationTap = (key: string, tensor: string) => void;

interface Lowering {
  g: GraphBuilder;
  cfg: TransformerConfig;
  weight: (name: string, shape: number[]) => string;
  tap: ActivationTap;
}

/**
 * x [rows, inDim] . W [inDim, outDim] + b. Called on 2-D x (see `transformer`), where
 * onnxruntime fuses the MatMul and the Add into one Gemm with the bias inside the GEMM; on a
 * 3-D MatMul it does not, and the separate Add is one more pass over the output (about 10% of
 * an encode at MiniLM size). Kept as MatMul + Add so quantize.ts still finds the weights.
 */
function linear({ g, weight }: Lowering, x: string, prefix: string, inDim: number, outDim: number, bias = true): string {
  const y = g.matmul(x, weight(`${prefix}.weight`, [inDim, outDim]));
  return bias ? g.add(y, weight(`${prefix}.bias`, [outDim])) : y;
}

function layerNorm({ g, cfg, weight }: Lowering, x: string, prefix: string): string {
  const H = cfg.hiddenSize;
  return g.op('LayerNormalization', [x, weight(`${prefix}.weight`, [H]), weight(`${prefix}.bias`, [H])], { axis: attr.i(-1), epsilon: attr.f(cfg.layerNormEps) });
}

/** Word + position (+ token type) embeddings, then LayerNorm. [B, T, H] */
function embeddings(l: Lowering, inputIds: string, tokenTypeIds: string | null): string {
  const { g, cfg, weight } = l;
  const H = cfg.hiddenSize;
  let x = g.gather(weight('embeddings.word_embeddings.weight', [cfg.vocabSize, H]), inputIds);
  const positions = weight('embeddings.position_embeddings.weight', [cfg.maxPositions, H]);
  if (cfg.architecture === 'roberta' || cfg.architecture === 'xlm-roberta' || cfg.architecture === 'mpnet') {
    // padding_idx + running count of non-pad tokens; pad tokens get padding_idx (HF's
    // create_position_ids_from_input_ids; TransformerModel.positionIds).
    const pad = g.int64(cfg.padTokenId);
    const notPad = g.cast(g.op('Not', [g.op('Equal', [inputIds, pad])]), DataType.INT64); // [B, T]
    const ids = g.add(g.mul(g.op('CumSum', [notPad, g.int64(1)]), notPad), pad);
    x = g.add(x, g.gather(positions, ids));
  } else {
    const ids = g.op('Range', [g.int64(0), g.dim(inputIds, 1), g.int64(1)]); // [T]
    x = g.add(x, g.gather(positions, ids)); // [T, H] broadcast over the batch
  }
  if (tokenTypeIds) x = g.add(x, g.gather(weight('embeddings.token_type_embeddings.weight', [cfg.typeVocabSize, H]), tokenTypeIds));
  l.tap('embeddings.sum', x); // [B, T, H]
  return layerNorm(l, x, 'embeddings.LayerNorm');
}

/**
 * MPNet's relative position bias for the batch's length T: [1, heads, T, T]. The bucket of
 * every offset k - q in (-maxPositions, maxPositions) is tabulated here with the tfjs path's
 * own `relativePositionBucket`, so both use the same integer buckets.
 */
function mpnetPositionBias(l: Lowering, seqLen: string): string {
  const { g, cfg, weight } = l;
  const P = cfg.maxPositions;
  const table = new BigInt64Array(2 * P - 1);
  for (let r = -(P - 1); r <= P - 1; r++) table[r + P - 1] = BigInt(relativePositionBucket(r, cfg.relativeAttentionNumBuckets));
  const buckets = g.constantTensor('mpnet_relative_buckets', DataType.INT64, [table.length], table);
  const pos = g.op('Range', [g.int64(0), seqLen, g.int64(1)]); // [T]
  const rel = g.sub(g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1])); // [T, T]: key - query
  const idx = g.gather(buckets, g.add(rel, g.int64(P - 1)));
  const bias = g.gather(weight('encoder.relative_attention_bias.weight', [cfg.relativeAttentionNumBuckets, cfg.numHeads]), idx); // [T, T, heads]
  return g.unsqueeze(g.transpose(bias, [2, 0, 1]), [0]);
}

/**
 * The transformer: last_hidden_state [B, T, H]. Between the embeddings and the output the
 * tokens are one [B*T, H] matrix, so each projection is a 2-D Gemm (see `linear`); only the
 * attention products see [B, heads, T, hd].
 */
function transformer(l: Lowering, inputIds: string, attentionMask: string, tokenTypeIds: string | null): string {
  const { g, cfg } = l;
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = H / nh;
  const batchAndSeq = g.op('Shape', [inputIds]); // [2]: B, T
  const shapeOf = (...rest: number[]) => g.op('Concat', [batchAndSeq, g.int64(rest)], { axis: attr.i(0) });
  let x = g.reshape(embeddings(l, inputIds, tokenTypeIds), [-1, H]); // [B*T, H]

  // Additive mask: 0 where attended, -1e9 where padded. [B, 1, 1, T]
  const mask = g.unsqueeze(g.cast(attentionMask, DataType.FLOAT), [1, 2]);
  const maskBias = g.mul(g.sub(g.float(1), mask), g.float(-1e9));
  const positionBias = cfg.architecture === 'mpnet' ? mpnetPositionBias(l, g.dim(inputIds, 1)) : null;
  const scale = g.float(1 / Math.sqrt(hd));
  const headsShape = shapeOf(nh, hd);
  const heads = (t: string, perm: number[]) => g.transpose(g.op('Reshape', [t, headsShape]), perm);

  for (let i = 0; i < cfg.numLayers; i++) {
    const n = layerWeights(cfg, i);
    const tap = (what: string, t: string) => l.tap(`layer.${i}.${what}`, t);
    tap('input', x);
    const q = heads(linear(l, x, n.q, H, H), [0, 2, 1, 3]); // [B, nh, T, hd]
    const kT = heads(linear(l, x, n.k, H, H), [0, 2, 3, 1]); // [B, nh, hd, T]
    const v = heads(linear(l, x, n.v, H, H), [0, 2, 1, 3]); // [B, nh, T, hd]
    let scores = g.mul(g.matmul(q, kT), scale); // [B, nh, T, T]
    if (positionBias) scores = g.add(scores, positionBias);
    scores = g.add(scores, maskBias);
    const probs = g.op('Softmax', [scores], { axis: attr.i(-1) });
    const ctx = g.reshape(g.transpose(g.matmul(probs, v), [0, 2, 1, 3]), [-1, H]); // [B*T, H]
    for (const [what, t] of Object.entries({ q, kT, v, probs, context: ctx })) tap(what, t);
    const res1 = g.add(x, linear(l, ctx, n.o, H, H));
    tap('residual1', res1);
    x = layerNorm(l, res1, n.ln1);
    tap('attended', x);
    const ffPre = linear(l, x, n.ffIn, H, cfg.intermediateSize);
    const ffAct = activation(g, cfg.hiddenAct, ffPre);
    tap('ff_pre', ffPre);
    tap('ff_act', ffAct);
    const res2 = g.add(x, linear(l, ffAct, n.ffOut, cfg.intermediateSize, H));
    tap('residual2', res2);
    x = layerNorm(l, res2, n.ln2);
  }
  return g.op('Reshape', [x, shapeOf(H)]); // [B, T, H]
}

/** Pooling as src/models/pooling.ts `pool`: tokens [B, T, H], mask int64 [B, T] -> [B, H * modes]. */
function pooling(g: GraphBuilder, tokens: string, attentionMask: string, modes: PoolingMode[], tap: ActivationTap = () => {}): string {
  const maskF = g.cast(attentionMask, DataType.FLOAT); // [B, T]
  const m = g.unsqueeze(maskF, [-1]); // [B, T, 1]
  const seqLen = g.dim(tokens, 1);
  let sums: { sum: string; count: string } | null = null;
  const getSums = () => (sums ??= { sum: g.reduceSum(g.mul(tokens, m), [1], false), count: g.op('Max', [g.reduceSum(m, [1], false), g.float(1e-9)]) });
  const parts = modes.map((mode) => {
    switch (mode) {
      case 'cls':
        return g.gather(tokens, g.int64(0), 1);
      case 'max': {
        const masked = g.add(g.mul(tokens, m), g.mul(g.sub(g.float(1), m), g.float(-1e9)));
        const max = g.reduce('ReduceMax', masked, [1], false);
        tap('pooling.max_input', masked);
        tap('pooling.max', max);
        return max;
      }
      case 'mean':
        return g.div(getSums().sum, getSums().count);
      case 'mean_sqrt_len':
        return g.div(getSums().sum, g.op('Sqrt', [getSums().count]));
      case 'weightedmean': {
        const positions = g.cast(g.op('Range', [g.int64(1), g.add(seqLen, g.int64(1)), g.int64(1)]), DataType.FLOAT);
        const w = g.mul(g.reshape(positions, [1, -1, 1]), m); // [B, T, 1]
        return g.div(g.reduceSum(g.mul(tokens, w), [1], false), g.op('Max', [g.reduceSum(w, [1], false), g.float(1e-9)]));
      }
      case 'lasttoken': {
        // the last attended position of each row (right padding), as a one-hot over T
        const last = g.op('Max', [g.sub(g.reduceSum(attentionMask, [1], true), g.int64(1)), g.int64(0)]); // [B, 1]
        const range = g.unsqueeze(g.op('Range', [g.int64(0), seqLen, g.int64(1)]), [0]); // [1, T]
        const oneHot = g.unsqueeze(g.cast(g.op('Equal', [range, last]), DataType.FLOAT), [-1]); // [B, T, 1]
        return g.reduceSum(g.mul(tokens, oneHot), [1], false);
      }
    }
  });
  return parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: attr.i(-1) });
}

/** Row-wise L2 normalisation as torch.nn.functional.normalize (eps 1e-12). */
function normalize(g: GraphBuilder, x: string): string {
  return g.div(x, g.op('Max', [g.reduce('ReduceL2', x, [-1], true), g.float(1e-12)]));
}

export interface EncoderGraph {
  graph: GraphBuilder;
  /** Names of the graph inputs, in order. */
  inputs: string[];
  /** sentence_embedding's width. */
  dim: number;
}

/**
 * Build the whole sentence encoder as a graph; weights come from `weight` (see WeightSource).
 * `tap` sees the activations the backward pass keeps (training only).
 */
export function buildEncoderGraph(spec: EncoderSpec, weight: WeightSource, tap: ActivationTap = () => {}): EncoderGraph {
  const cfg = spec.config;
  const g = new GraphBuilder('sentence_encoder');
  const l: Lowering = { g, cfg, weight: (name, shape) => weight(g, name, shape), tap };
  const dims = ['batch_size', 'sequence_length'];
  const inputIds = g.input('input_ids', DataType.INT64, dims);
  const attentionMask = g.input('attention_mask', DataType.INT64, dims);
  const tokenTypeIds = cfg.typeVocabSize > 0 ? g.input('token_type_ids', DataType.INT64, dims) : null;

  const hidden = transformer(l, inputIds, attentionMask, tokenTypeIds);
  g.output('last_hidden_state', hidden, DataType.FLOAT, [...dims, cfg.hiddenSize]);

  let x = pooling(g, hidden, attentionMask, spec.pooling, tap);
  let dim = cfg.hiddenSize * spec.pooling.length;
  spec.dense.forEach((d, i) => {
    if (d.inFeatures !== dim) throw new Error(`internal: Dense ${i} takes ${d.inFeatures} features, the previous module gives ${dim}`);
    tap(`dense.${i}.input`, x);
    const pre = linear(l, x, `dense.${i}.linear`, d.inFeatures, d.outFeatures, d.bias);
    x = activation(g, d.activation, pre);
    tap(`dense.${i}.pre`, pre);
    tap(`dense.${i}.output`, x);
    dim = d.outFeatures;
  });
  if (spec.normalize) {
    tap('normalize.input', x);
    x = normalize(g, x);
  }
  g.output('sentence_embedding', x, DataType.FLOAT, ['batch_size', dim]);
  return { graph: g, inputs: g.inputs.map((i) => i.name), dim };
}

/** The ONNX model of a loaded encoder, weights as initializers. */
export async function encoderToOnnx(encoder: SentenceEncoder): Promise<{ model: ModelData; dim: number; inputs: string[] }> {
  const spec = encoderSpec(encoder);
  const { graph, dim, inputs } = buildEncoderGraph(spec, initializerWeights(await encoderWeights(encoder)));
  const model = graph.toModel({
    producerName: 'sbert-train',
    producerVersion: '0.1.0',
    docString: `${encoder.source}: ${cfg(spec)}`,
  });
  return { model, dim, inputs };
}

function cfg(spec: EncoderSpec): string {
  return `${spec.config.architecture}, pooling ${spec.pooling.join('+')}${spec.dense.map((d) => `, Dense ${d.inFeatures}->${d.outFeatures} ${d.activation}`).join('')}${spec.normalize ? ', Normalize' : ''}`;
}
