/**
 * The transformer encoders (BERT / MiniLM, DistilBERT, RoBERTa / XLM-RoBERTa, MPNet) written
 * with tfjs ops, following Hugging Face transformers' modeling_*.py so the same checkpoint
 * gives the same hidden states:
 *   https://github.com/huggingface/transformers/blob/main/src/transformers/models/bert/modeling_bert.py
 *   .../distilbert/modeling_distilbert.py, .../roberta/modeling_roberta.py, .../mpnet/modeling_mpnet.py
 * All four are post-LayerNorm encoders; they differ in weight names, position ids
 * (RoBERTa-style models count from padding_idx + 1) and MPNet's relative position bias.
 *
 * Weights live in tf.Variables keyed by their checkpoint names. Linear weights are kept as
 * [in, out] kernels (PyTorch stores [out, in]) so every matmul runs untransposed; load and save
 * transpose them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { activation, attention, embeddingLookup, layerNorm, linear, matmul } from '../backend/ops.js';
import type { TransformerConfig } from './config.js';
import type { TokenBatch } from './types.js';

/** One weight of the model: checkpoint name, PyTorch shape, whether it is a Linear weight. */
export interface ParamSpec {
  name: string;
  shape: number[];
  linear: boolean;
  /** Absent from some checkpoints (e.g. the pooler); then initialised, not required. */
  optional?: boolean;
  /** Which group freezing acts on: 'embeddings', a layer index, or 'other'. */
  group: 'embeddings' | number | 'other';
}

/** The names of one layer's weights, by role (the ONNX lowering reads them too). */
export interface LayerNames {
  q: string;
  k: string;
  v: string;
  o: string;
  ln1: string;
  ffIn: string;
  ffOut: string;
  ln2: string;
}

function layerNames(cfg: TransformerConfig, i: number): LayerNames {
  switch (cfg.architecture) {
    case 'distilbert': {
      const p = `transformer.layer.${i}.`;
      return {
        q: `${p}attention.q_lin`,
        k: `${p}attention.k_lin`,
        v: `${p}attention.v_lin`,
        o: `${p}attention.out_lin`,
        ln1: `${p}sa_layer_norm`,
        ffIn: `${p}ffn.lin1`,
        ffOut: `${p}ffn.lin2`,
        ln2: `${p}output_layer_norm`,
      };
    }
    case 'mpnet': {
      const p = `encoder.layer.${i}.`;
      return {
        q: `${p}attention.attn.q`,
        k: `${p}attention.attn.k`,
        v: `${p}attention.attn.v`,
        o: `${p}attention.attn.o`,
        ln1: `${p}attention.LayerNorm`,
        ffIn: `${p}intermediate.dense`,
        ffOut: `${p}output.dense`,
        ln2: `${p}output.LayerNorm`,
      };
    }
    default: {
      const p = `encoder.layer.${i}.`;
      return {
        q: `${p}attention.self.query`,
        k: `${p}attention.self.key`,
        v: `${p}attention.self.value`,
        o: `${p}attention.output.dense`,
        ln1: `${p}attention.output.LayerNorm`,
        ffIn: `${p}intermediate.dense`,
        ffOut: `${p}output.dense`,
        ln2: `${p}output.LayerNorm`,
      };
    }
  }
}

/** Every weight the architecture needs, with its PyTorch shape. */
export function paramSpecs(cfg: TransformerConfig): ParamSpec[] {
  const H = cfg.hiddenSize;
  const I = cfg.intermediateSize;
  const specs: ParamSpec[] = [];
  const add = (name: string, shape: number[], linearW: boolean, group: ParamSpec['group'], optional = false) =>
    specs.push({ name, shape, linear: linearW, group, optional });
  const lin = (name: string, out: number, inp: number, group: ParamSpec['group']) => {
    add(`${name}.weight`, [out, inp], true, group);
    add(`${name}.bias`, [out], false, group);
  };
  const ln = (name: string, group: ParamSpec['group']) => {
    add(`${name}.weight`, [H], false, group);
    add(`${name}.bias`, [H], false, group);
  };
  add('embeddings.word_embeddings.weight', [cfg.vocabSize, H], false, 'embeddings');
  add('embeddings.position_embeddings.weight', [cfg.maxPositions, H], false, 'embeddings');
  if (cfg.typeVocabSize > 0) add('embeddings.token_type_embeddings.weight', [cfg.typeVocabSize, H], false, 'embeddings');
  ln('embeddings.LayerNorm', 'embeddings');
  for (let i = 0; i < cfg.numLayers; i++) {
    const n = layerNames(cfg, i);
    lin(n.q, H, H, i);
    lin(n.k, H, H, i);
    lin(n.v, H, H, i);
    lin(n.o, H, H, i);
    ln(n.ln1, i);
    lin(n.ffIn, I, H, i);
    lin(n.ffOut, H, I, i);
    ln(n.ln2, i);
  }
  if (cfg.architecture === 'mpnet') {
    add('encoder.relative_attention_bias.weight', [cfg.relativeAttentionNumBuckets, cfg.numHeads], false, 'other');
  }
  if (cfg.architecture !== 'distilbert') {
    // The pooler is unused by sentence embeddings but kept so saved checkpoints stay complete.
    add('pooler.dense.weight', [H, H], true, 'other', true);
    add('pooler.dense.bias', [H], false, 'other', true);
  }
  return specs;
}

/** Prefixes that task-head checkpoints put in front of the base model's weight names. */
export const NAME_PREFIXES = ['', 'bert.', 'roberta.', 'distilbert.', 'mpnet.', 'model.', 'encoder_model.'];

/**
 * MPNet's relative position buckets (T5-style, bidirectional), as
 * MPNetEncoder.relative_position_bucket: half the buckets per direction, exact below
 * max_exact, log-spaced up to max_distance.
 */
export function relativePositionBucket(relative: number, numBuckets = 32, maxDistance = 128): number {
  let ret = 0;
  let n = -relative;
  const half = Math.floor(numBuckets / 2);
  if (n < 0) ret += half;
  n = Math.abs(n);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return ret + n;
  // torch computes the log in float32; Math.fround keeps the truncation identical.
  const f = Math.fround(Math.fround(Math.log(Math.fround(n / maxExact))) / Math.fround(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(Math.fround(f * (half - maxExact)));
  return ret + Math.min(large, half - 1);
}

export class TransformerModel {
  readonly weights = new Map<string, tf.Variable>();
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private posBiasIndex: { seqLen: number; idx: Int32Array } | null = null;

  constructor(
    readonly config: TransformerConfig,
    /** Weights in PyTorch layout by name; every non-optional spec must be present. */
    values: Map<string, Float32Array>,
  ) {
    this.act = activation(config.hiddenAct);
    for (const spec of paramSpecs(config)) {
      let data = values.get(spec.name);
      if (!data) {
        if (!spec.optional) throw new Error(`internal: missing weight ${spec.name}`);
        data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      }
      const internal = spec.linear ? transpose2d(data, spec.shape[0], spec.shape[1]) : data;
      const shape = spec.linear ? [spec.shape[1], spec.shape[0]] : spec.shape;
      this.weights.set(spec.name, toVariable(internal, shape));
    }
  }

  private w(name: string): tf.Variable {
    const v = this.weights.get(name);
    if (!v) throw new Error(`internal: no weight ${name}`);
    return v;
  }

  private lin(x: tf.Tensor, name: string): tf.Tensor {
    return linear(x, this.w(`${name}.weight`) as tf.Tensor2D, this.w(`${name}.bias`) as tf.Tensor1D);
  }

  private ln(x: tf.Tensor, name: string): tf.Tensor {
    return layerNorm(x, this.w(`${name}.weight`) as tf.Tensor1D, this.w(`${name}.bias`) as tf.Tensor1D, this.config.layerNormEps);
  }

  /** Position ids: 0..T-1 (BERT, DistilBERT), or padding_idx + running count of non-pad tokens. */
  positionIds(batch: TokenBatch): Int32Array {
    const { batchSize: B, seqLen: T, inputIds } = batch;
    const out = new Int32Array(B * T);
    const arch = this.config.architecture;
    if (arch === 'roberta' || arch === 'xlm-roberta' || arch === 'mpnet') {
      const pad = this.config.padTokenId;
      for (let b = 0; b < B; b++) {
        let count = 0;
        for (let t = 0; t < T; t++) {
          const notPad = inputIds[b * T + t] !== pad;
          if (notPad) count++;
          out[b * T + t] = notPad ? count + pad : pad;
        }
      }
    } else {
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out[b * T + t] = t;
    }
    return out;
  }

  /** Token embeddings of the last layer, [B, T, H]. */
  forward(batch: TokenBatch): tf.Tensor3D {
    const cfg = this.config;
    const { batchSize: B, seqLen: T } = batch;
    const H = cfg.hiddenSize;
    const nh = cfg.numHeads;
    const hd = H / nh;
    if (T > cfg.maxPositions) throw new Error(`internal: sequence length ${T} exceeds max_position_embeddings ${cfg.maxPositions}`);
    return tf.tidy(() => {
      let x = embeddingLookup(this.w('embeddings.word_embeddings.weight') as tf.Tensor2D, batch.inputIds, [B, T]);
      x = tf.add(x, embeddingLookup(this.w('embeddings.position_embeddings.weight') as tf.Tensor2D, this.positionIds(batch), [B, T]));
      if (cfg.typeVocabSize > 0) {
        x = tf.add(x, embeddingLookup(this.w('embeddings.token_type_embeddings.weight') as tf.Tensor2D, batch.tokenTypeIds, [B, T]));
      }
      x = this.ln(x, 'embeddings.LayerNorm');

      // Additive mask: 0 where attended, a large negative where padded. [B, 1, 1, T]
      const mask = tf.tensor(batch.attentionMask, [B, 1, 1, T], 'float32');
      const maskBias = tf.mul(tf.sub(1, mask), -1e9);
      const positionBias = cfg.architecture === 'mpnet' ? this.mpnetPositionBias(T) : null; // [1, nh, T, T]
      const scale = 1 / Math.sqrt(hd);

      const heads = (t: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, nh, hd]), [0, 2, 1, 3]), [B * nh, T, hd]) as tf.Tensor3D;
      for (let i = 0; i < cfg.numLayers; i++) {
        const n = layerNames(cfg, i);
        const q = heads(this.lin(x, n.q));
        const k = heads(this.lin(x, n.k));
        const v = heads(this.lin(x, n.v));
        let heads3: tf.Tensor3D; // [B*nh, T, hd]
        if (positionBias) {
          // MPNet's position bias is trained, so it takes the op-by-op path (the fused op
          // treats its bias as a constant).
          let scores: tf.Tensor = tf.reshape(tf.mul(matmul(q, k, false, true), scale), [B, nh, T, T]);
          scores = tf.add(tf.add(scores, positionBias), maskBias);
          heads3 = matmul(tf.reshape(tf.softmax(scores), [B * nh, T, T]) as tf.Tensor3D, v);
        } else {
          heads3 = attention(q, k, v, maskBias, scale);
        }
        const ctx = tf.reshape(tf.transpose(tf.reshape(heads3, [B, nh, T, hd]), [0, 2, 1, 3]), [B, T, H]);
        x = this.ln(tf.add(x, this.lin(ctx, n.o)), n.ln1);
        const ff = this.lin(this.act(this.lin(x, n.ffIn)), n.ffOut);
        x = this.ln(tf.add(x, ff), n.ln2);
      }
      return x as tf.Tensor3D;
    });
  }

  /** MPNet's relative position bias for length T: [1, heads, T, T]. */
  private mpnetPositionBias(T: number): tf.Tensor {
    if (!this.posBiasIndex || this.posBiasIndex.seqLen !== T) {
      const idx = new Int32Array(T * T);
      for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) idx[q * T + k] = relativePositionBucket(k - q, this.config.relativeAttentionNumBuckets);
      this.posBiasIndex = { seqLen: T, idx };
    }
    const table = this.w('encoder.relative_attention_bias.weight') as tf.Tensor2D; // [buckets, heads]
    const values = embeddingLookup(table, this.posBiasIndex.idx, [T, T]); // [T, T, heads]
    return tf.expandDims(tf.transpose(values, [2, 0, 1]), 0);
  }

  /**
   * Weights in PyTorch layout, by checkpoint name, from `values` (this model's variables read
   * to the host, by the same names; reading is async so that GPU backends can do it).
   */
  exportWeights(values: Map<string, Float32Array>): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const spec of paramSpecs(this.config)) {
      const data = values.get(spec.name);
      if (!data) throw new Error(`exportWeights: no values for '${spec.name}'`);
      out.set(spec.name, { shape: spec.shape, data: spec.linear ? transpose2d(data, spec.shape[1], spec.shape[0]) : new Float32Array(data) });
    }
    return out;
  }

  /** Variables by freezing group. */
  groupOf(name: string): ParamSpec['group'] {
    return paramSpecs(this.config).find((s) => s.name === name)?.group ?? 'other';
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
    this.posBiasIndex = null;
  }
}

/** Transpose a row-major [rows, cols] matrix. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}

/** A trainable variable holding a copy of `data` (the staging tensor is released); `name` as tf.variable's. */
export function toVariable(data: Float32Array, shape: number[], name?: string): tf.Variable {
  const t = tf.tensor(data, shape, 'float32');
  const v = tf.variable(t, true, name);
  t.dispose();
  return v;
}
