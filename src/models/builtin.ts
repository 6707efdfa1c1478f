/**
 * Built-in models that need no download: a small BERT with a byte-level tokenizer, created
 * from a named config and a seed (BERT's initialisation: N(0, 0.02) weights, zero biases, unit
 * LayerNorm). `builtin:tiny` is the README quickstart's model; it saves as an ordinary
 * sentence-transformers folder.
 */
import { ModelError } from '../errors.js';
import { parseConfig } from './config.js';
import { SentenceEncoder } from './sentence-encoder.js';
import { BYTE_VOCAB_SIZE, Tokenizer, byteLevelTokenizerJson } from './tokenizer.js';
import { TransformerModel, paramSpecs } from './transformer.js';
import type { PoolingMode } from './pooling.js';

export interface BuiltinConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  vocabSize: number;
  maxSeqLength: number;
  pooling: PoolingMode[];
  normalize: boolean;
}

export const BUILTIN_MODELS: Record<string, BuiltinConfig> = {
  // Small enough to train in minutes on 2 CPU cores, big enough to learn job-title similarity.
  tiny: { hiddenSize: 128, numLayers: 2, numHeads: 4, intermediateSize: 512, maxPositions: 128, vocabSize: BYTE_VOCAB_SIZE, maxSeqLength: 64, pooling: ['mean'], normalize: false },
  // tiny with 4 layers: a teacher that a 2-layer student can be cut from (task: distill demos and benchmarks).
  'tiny-l4': { hiddenSize: 128, numLayers: 4, numHeads: 4, intermediateSize: 512, maxPositions: 128, vocabSize: BYTE_VOCAB_SIZE, maxSeqLength: 64, pooling: ['mean'], normalize: false },
  // The shape of all-MiniLM-L6-v2, for benchmarks (random weights, byte tokenizer).
  'minilm-l6-shape': { hiddenSize: 384, numLayers: 6, numHeads: 12, intermediateSize: 1536, maxPositions: 512, vocabSize: 30522, maxSeqLength: 128, pooling: ['mean'], normalize: true },
};

/** Seeded standard normal samples (mulberry32 + Box-Muller), identical on every backend. */
export function seededNormal(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

export function builtinEncoder(name: string | Partial<BuiltinConfig>, seed = 42): SentenceEncoder {
  let cfg: BuiltinConfig;
  let label: string;
  if (typeof name === 'string') {
    const found = BUILTIN_MODELS[name];
    if (!found) throw new ModelError(`builtin:${name}: unknown built-in model; valid names are ${Object.keys(BUILTIN_MODELS).map((n) => `builtin:${n}`).join(', ')}`);
    cfg = found;
    label = `builtin:${name}`;
  } else {
    cfg = { ...BUILTIN_MODELS.tiny, ...name };
    label = 'builtin:custom';
  }
  const raw = {
    architectures: ['BertModel'],
    model_type: 'bert',
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    intermediate_size: cfg.intermediateSize,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.0,
    attention_probs_dropout_prob: 0.0,
    max_position_embeddings: cfg.maxPositions,
    type_vocab_size: 2,
    initializer_range: 0.02,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
  };
  const config = parseConfig(raw, label);
  const normal = seededNormal(seed);
  const values = new Map<string, Float32Array>();
  for (const spec of paramSpecs(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isLayerNormWeight = /LayerNorm\.weight$/.test(spec.name);
    if (isLayerNormWeight) data.fill(1);
    else if (spec.name.endsWith('.weight')) for (let i = 0; i < n; i++) data[i] = 0.02 * normal();
    values.set(spec.name, data);
  }
  const { tokenizer, config: tokConfig } = byteLevelTokenizerJson();
  return new SentenceEncoder({
    transformer: new TransformerModel(config, values),
    tokenizer: Tokenizer.fromJson(tokenizer, { ...tokConfig, model_max_length: cfg.maxSeqLength }),
    maxSeqLength: cfg.maxSeqLength,
    pooling: cfg.pooling,
    dense: [],
    normalize: cfg.normalize,
    source: label,
  });
}
