/**
 * Transformer configuration, normalised from a Hugging Face `config.json`. One shape for every
 * architecture we run, so the model code reads the same fields whatever the checkpoint.
 */
import { ModelError } from '../errors.js';

export const ARCHITECTURES = ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

export interface TransformerConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  /** 0 when the model has no token-type embeddings (DistilBERT, MPNet). */
  typeVocabSize: number;
  layerNormEps: number;
  hiddenAct: string;
  padTokenId: number;
  /** MPNet's relative attention buckets (32 in HF). */
  relativeAttentionNumBuckets: number;
  /** The config.json as read, written back unchanged when the model is saved. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/**
 * An integer field of a model's JSON config, checked: a JSON number, whole, in [min, max].
 * Undefined when the key is absent or null, so the caller picks the default; anything else
 * that is not such an integer (-5, 1.5, "x") is a one-line ModelError naming file and field,
 * since a silently clamped or ignored value loads a model that embeds wrongly.
 * `maxWhy` says where the upper bound comes from.
 */
export function intField(raw: Json, key: string, file: string, min: number, max = Infinity, maxWhy = ''): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max === Infinity ? `>= ${min}` : `from ${min} to ${max}${maxWhy ? ` (${maxWhy})` : ''}`;
    throw new ModelError(`${file}: ${key} must be an integer ${range}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** A required size field: an integer >= 1. */
function size(raw: Json, file: string, key: string): number {
  const v = intField(raw, key, file, 1);
  if (v === undefined) throw new ModelError(`${file}: missing '${key}'`);
  return v;
}

function intOr(raw: Json, file: string, key: string, min: number, fallback: number): number {
  return intField(raw, key, file, min) ?? fallback;
}

function epsOr(raw: Json, file: string, key: string, fallback: number): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ModelError(`${file}: ${key} must be a number >= 0, got ${JSON.stringify(v)}`);
  return v;
}

/** Parse a Hugging Face config.json object; `file` names it in errors. */
export function parseConfig(raw: Json, file: string): TransformerConfig {
  const type = String(raw.model_type ?? '');
  const arch = ({ bert: 'bert', distilbert: 'distilbert', roberta: 'roberta', 'xlm-roberta': 'xlm-roberta', mpnet: 'mpnet', camembert: 'roberta' } as Record<string, Architecture>)[type];
  if (!arch) {
    throw new ModelError(`${file}: unknown architecture model_type '${type || '(none)'}'; supported: ${ARCHITECTURES.join(', ')}`);
  }
  if (arch === 'distilbert') {
    return {
      architecture: arch,
      vocabSize: size(raw, file, 'vocab_size'),
      hiddenSize: size(raw, file, 'dim'),
      numLayers: size(raw, file, 'n_layers'),
      numHeads: size(raw, file, 'n_heads'),
      intermediateSize: size(raw, file, 'hidden_dim'),
      maxPositions: size(raw, file, 'max_position_embeddings'),
      typeVocabSize: 0,
      layerNormEps: 1e-12,
      hiddenAct: String(raw.activation ?? 'gelu'),
      padTokenId: intOr(raw, file, 'pad_token_id', 0, 0),
      relativeAttentionNumBuckets: 0,
      raw,
    };
  }
  const cfg: TransformerConfig = {
    architecture: arch,
    vocabSize: size(raw, file, 'vocab_size'),
    hiddenSize: size(raw, file, 'hidden_size'),
    numLayers: size(raw, file, 'num_hidden_layers'),
    numHeads: size(raw, file, 'num_attention_heads'),
    intermediateSize: size(raw, file, 'intermediate_size'),
    maxPositions: size(raw, file, 'max_position_embeddings'),
    typeVocabSize: arch === 'mpnet' ? 0 : intOr(raw, file, 'type_vocab_size', 0, 2),
    layerNormEps: epsOr(raw, file, 'layer_norm_eps', 1e-12),
    hiddenAct: String(raw.hidden_act ?? 'gelu'),
    padTokenId: intOr(raw, file, 'pad_token_id', 0, arch === 'bert' ? 0 : 1),
    relativeAttentionNumBuckets: arch === 'mpnet' ? intOr(raw, file, 'relative_attention_num_buckets', 1, 32) : 0,
    raw,
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new ModelError(`${file}: hidden_size ${cfg.hiddenSize} is not a multiple of num_attention_heads ${cfg.numHeads}`);
  }
  return cfg;
}
