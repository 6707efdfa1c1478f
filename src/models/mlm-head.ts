/**
 * The masked-language-model head of a BERT-family checkpoint, in tfjs:
 *
 *     logits = LayerNorm(act(h · W + b)) · Eᵀ + bias          E = the word embeddings (tied)
 *
 * with the names each architecture's `*ForMaskedLM` class gives it in Hugging Face
 * checkpoints, so a checkpoint's own head is picked up and a saved folder loads in
 * transformers' `AutoModelForMaskedLM`:
 *
 * | architecture | transform | LayerNorm | output bias | class |
 * | --- | --- | --- | --- | --- |
 * | bert | cls.predictions.transform.dense | cls.predictions.transform.LayerNorm | cls.predictions.bias | BertForMaskedLM |
 * | roberta, xlm-roberta, mpnet | lm_head.dense | lm_head.layer_norm | lm_head.bias | *ForMaskedLM |
 * | distilbert | vocab_transform | vocab_layer_norm | vocab_projector.bias | DistilBertForMaskedLM |
 *
 * The decoder weight is the word-embedding matrix itself (tie_word_embeddings), so it trains
 * with the encoder and is saved once (HF writes the tied copy too; both are written here).
 */
import * as tf from '@tensorflow/tfjs-core';
import { activation, layerNorm, linear } from '../backend/ops.js';
import type { Architecture, TransformerConfig } from './config.js';
import { seededNormal } from './builtin.js';
import { toVariable } from './transformer.js';

export interface MlmHeadNames {
  /** The base model's weight-name prefix in a *ForMaskedLM checkpoint. */
  prefix: string;
  dense: string;
  norm: string;
  bias: string;
  /** The tied decoder weight's name (a copy of the word embeddings). */
  decoder: string;
  architecture: string;
}

export function mlmHeadNames(arch: Architecture): MlmHeadNames {
  switch (arch) {
    case 'bert':
      return { prefix: 'bert.', dense: 'cls.predictions.transform.dense', norm: 'cls.predictions.transform.LayerNorm', bias: 'cls.predictions.bias', decoder: 'cls.predictions.decoder.weight', architecture: 'BertForMaskedLM' };
    case 'distilbert':
      return { prefix: 'distilbert.', dense: 'vocab_transform', norm: 'vocab_layer_norm', bias: 'vocab_projector.bias', decoder: 'vocab_projector.weight', architecture: 'DistilBertForMaskedLM' };
    case 'roberta':
    case 'xlm-roberta':
      return { prefix: 'roberta.', dense: 'lm_head.dense', norm: 'lm_head.layer_norm', bias: 'lm_head.bias', decoder: 'lm_head.decoder.weight', architecture: arch === 'roberta' ? 'RobertaForMaskedLM' : 'XLMRobertaForMaskedLM' };
    case 'mpnet':
      return { prefix: 'mpnet.', dense: 'lm_head.dense', norm: 'lm_head.layer_norm', bias: 'lm_head.bias', decoder: 'lm_head.decoder.weight', architecture: 'MPNetForMaskedLM' };
  }
}

/** Host values of a head, torch layout (dense weight [out, in]). */
export interface MlmHeadValues {
  denseWeight: Float32Array;
  denseBias: Float32Array;
  normWeight: Float32Array;
  normBias: Float32Array;
  bias: Float32Array;
}

export class MlmHead {
  /** [in, out], as the encoder's linear kernels. */
  readonly kernel: tf.Variable;
  readonly denseBias: tf.Variable;
  readonly normWeight: tf.Variable;
  readonly normBias: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly config: TransformerConfig,
    values: MlmHeadValues,
  ) {
    const H = config.hiddenSize;
    const V = config.vocabSize;
    const k = new Float32Array(H * H);
    for (let o = 0; o < H; o++) for (let i = 0; i < H; i++) k[i * H + o] = values.denseWeight[o * H + i];
    this.kernel = toVariable(k, [H, H]);
    this.denseBias = toVariable(values.denseBias, [values.denseBias.length]);
    this.normWeight = toVariable(values.normWeight, [values.normWeight.length]);
    this.normBias = toVariable(values.normBias, [values.normBias.length]);
    if (values.bias.length !== V) throw new Error(`internal: MLM bias has ${values.bias.length} entries for a vocabulary of ${V}`);
    this.bias = toVariable(values.bias, [V]);
  }

  /**
   * A new head as transformers initialises one: dense weights N(0, initializer_range), zero
   * biases, LayerNorm weight 1 and bias 0.
   */
  static fresh(config: TransformerConfig, seed: number, std = 0.02): MlmHead {
    const H = config.hiddenSize;
    const normal = seededNormal(seed);
    const denseWeight = new Float32Array(H * H);
    for (let i = 0; i < denseWeight.length; i++) denseWeight[i] = normal() * std;
    return new MlmHead(config, { denseWeight, denseBias: new Float32Array(H), normWeight: new Float32Array(H).fill(1), normBias: new Float32Array(H), bias: new Float32Array(config.vocabSize) });
  }

  /** The head stored in a checkpoint's tensors (by its HF names), or null when it has none. */
  static fromTensors(config: TransformerConfig, tensors: Map<string, { shape: number[]; data: Float32Array }>): MlmHead | null {
    const n = mlmHeadNames(config.architecture);
    const get = (name: string) => tensors.get(name)?.data;
    const denseWeight = get(`${n.dense}.weight`);
    const denseBias = get(`${n.dense}.bias`);
    const normWeight = get(`${n.norm}.weight`);
    const normBias = get(`${n.norm}.bias`);
    const bias = get(n.bias) ?? (n.architecture === 'BertForMaskedLM' ? get('cls.predictions.decoder.bias') : get('lm_head.decoder.bias'));
    if (!denseWeight || !denseBias || !normWeight || !normBias || !bias) return null;
    return new MlmHead(config, { denseWeight, denseBias, normWeight, normBias, bias });
  }

  variables(): Map<string, tf.Variable> {
    return new Map([
      ['mlm.dense.kernel', this.kernel],
      ['mlm.dense.bias', this.denseBias],
      ['mlm.norm.weight', this.normWeight],
      ['mlm.norm.bias', this.normBias],
      ['mlm.bias', this.bias],
    ]);
  }

  /** Vocabulary logits [N, V] of hidden states [N, H], with the (tied) word embeddings [V, H]. */
  logits(hidden: tf.Tensor2D, wordEmbeddings: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const act = activation(this.config.hiddenAct);
      const t = layerNorm(act(linear(hidden, this.kernel as tf.Tensor2D, this.denseBias as tf.Tensor1D)), this.normWeight as tf.Tensor1D, this.normBias as tf.Tensor1D, this.config.layerNormEps);
      return tf.add(tf.matMul(t as tf.Tensor2D, wordEmbeddings, false, true), this.bias) as tf.Tensor2D;
    });
  }

  /** The head's tensors under their HF names (torch layout), with the tied decoder weight. */
  async exportTensors(wordEmbeddings: Float32Array): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const H = this.config.hiddenSize;
    const V = this.config.vocabSize;
    const n = mlmHeadNames(this.config.architecture);
    const k = (await this.kernel.data()) as Float32Array;
    const w = new Float32Array(H * H);
    for (let o = 0; o < H; o++) for (let i = 0; i < H; i++) w[o * H + i] = k[i * H + o];
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    out.set(`${n.dense}.weight`, { shape: [H, H], data: w });
    out.set(`${n.dense}.bias`, { shape: [H], data: (await this.denseBias.data()) as Float32Array });
    out.set(`${n.norm}.weight`, { shape: [H], data: (await this.normWeight.data()) as Float32Array });
    out.set(`${n.norm}.bias`, { shape: [H], data: (await this.normBias.data()) as Float32Array });
    out.set(n.bias, { shape: [V], data: (await this.bias.data()) as Float32Array });
    out.set(n.decoder, { shape: [V, H], data: wordEmbeddings });
    return out;
  }

  dispose(): void {
    for (const v of this.variables().values()) v.dispose();
  }
}
