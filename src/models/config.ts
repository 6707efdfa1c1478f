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

function num(raw: Json, file: string, ...keys: string[]): number {
  for (const k of keys) {
    const v = raw[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  throw new ModelError(`${file}: missing or invalid '${keys[0]}'`);
}

function numOr(raw: Json, fallback: number, ...keys: string[]): number {
  for (const k of keys) {
    const v = raw[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return fallback;
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
      vocabSize: num(raw, file, 'vocab_size'),
      hiddenSize: num(raw, file, 'dim'),
      numLayers: num(raw, file, 'n_layers'),
      numHeads: num(raw, file, 'n_heads'),
      intermediateSize: num(raw, file, 'hidden_dim'),
      maxPositions: num(raw, file, 'max_position_embeddings'),
      typeVocabSize: 0,
      layerNormEps: 1e-12,
      hiddenAct: String(raw.activation ?? 'gelu'),
      padTokenId: numOr(raw, 0, 'pad_token_id'),
      relativeAttentionNumBuckets: 0,
      raw,
    };
  }
  const cfg: TransformerConfig = {
    architecture: arch,
    vocabSize: num(raw, file, 'vocab_size'),
    hiddenSize: num(raw, file, 'hidden_size'),
    numLayers: num(raw, file, 'num_hidden_layers'),
    numHeads: num(raw, file, 'num_attention_heads'),
    intermediateSize: num(raw, file, 'intermediate_size'),
    maxPositions: num(raw, file, 'max_position_embeddings'),
    typeVocabSize: arch === 'mpnet' ? 0 : numOr(raw, 2, 'type_vocab_size'),
    layerNormEps: numOr(raw, 1e-12, 'layer_norm_eps'),
    hiddenAct: String(raw.hidden_act ?? 'gelu'),
    padTokenId: numOr(raw, arch === 'bert' ? 0 : 1, 'pad_token_id'),
    relativeAttentionNumBuckets: arch === 'mpnet' ? numOr(raw, 32, 'relative_attention_num_buckets') : 0,
    raw,
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new ModelError(`${file}: hidden_size ${cfg.hiddenSize} is not a multiple of num_attention_heads ${cfg.numHeads}`);
  }
  return cfg;
}
