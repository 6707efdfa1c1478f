/**
 * Small random model folders of every supported architecture, written in the
 * sentence-transformers layout with our byte-level tokenizer, for tests that need a model on
 * disk (loading, saving, errors). Not parity fixtures: those come from Python (benchmarks/peers).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, seededNormal } from '../../src/models/index.js';
import { paramSpecs } from '../../src/models/transformer.js';
import { byteLevelTokenizerJson, BYTE_VOCAB_SIZE } from '../../src/models/tokenizer.js';
import { writeSafetensors } from '../../src/models/safetensors.js';

export type TestArch = 'bert' | 'distilbert' | 'roberta' | 'xlm-roberta' | 'mpnet';

export function hfConfig(arch: TestArch): Record<string, unknown> {
  const common = { vocab_size: BYTE_VOCAB_SIZE, max_position_embeddings: 40, pad_token_id: 0 };
  if (arch === 'distilbert') return { ...common, model_type: 'distilbert', dim: 16, n_layers: 2, n_heads: 2, hidden_dim: 32, activation: 'gelu' };
  return {
    ...common,
    model_type: arch,
    hidden_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 32,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    type_vocab_size: arch === 'bert' ? 2 : 1,
    ...(arch === 'mpnet' ? { relative_attention_num_buckets: 32 } : {}),
  };
}

export interface FolderOptions {
  arch?: TestArch;
  pooling?: Record<string, boolean>;
  dense?: { out: number; activation: string };
  normalize?: boolean;
  seed?: number;
  maxSeqLength?: number;
}

/** Write a model folder; returns the weights written (PyTorch layout) for checks. */
export function makeModelFolder(dir: string, opts: FolderOptions = {}): Map<string, { shape: number[]; data: Float32Array }> {
  const arch = opts.arch ?? 'bert';
  mkdirSync(dir, { recursive: true });
  const raw = hfConfig(arch);
  const cfg = parseConfig(raw, 'test');
  const normal = seededNormal(opts.seed ?? 1);
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const spec of paramSpecs(cfg)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    // Non-trivial everywhere, LayerNorm included, so a wrong mapping shows.
    for (let i = 0; i < n; i++) data[i] = (/LayerNorm|layer_norm/.test(spec.name) && spec.name.endsWith('weight') ? 1 : 0) + 0.1 * normal();
    weights.set(spec.name, { shape: spec.shape, data });
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw));
  writeSafetensors(join(dir, 'model.safetensors'), weights);
  const { tokenizer, config } = byteLevelTokenizerJson();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: opts.maxSeqLength ?? 32, do_lower_case: false }));
  const modules: object[] = [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }];
  mkdirSync(join(dir, '1_Pooling'), { recursive: true });
  writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 16, pooling_mode_mean_tokens: true, ...(opts.pooling ?? {}) }));
  modules.push({ idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' });
  if (opts.dense) {
    const inF = 16 * Object.values({ pooling_mode_mean_tokens: true, ...(opts.pooling ?? {}) }).filter(Boolean).length;
    const w = new Float32Array(opts.dense.out * inF).map(() => 0.2 * normal());
    const b = new Float32Array(opts.dense.out).map(() => 0.1 * normal());
    mkdirSync(join(dir, '2_Dense'), { recursive: true });
    writeFileSync(join(dir, '2_Dense', 'config.json'), JSON.stringify({ in_features: inF, out_features: opts.dense.out, bias: true, activation_function: opts.dense.activation }));
    writeSafetensors(join(dir, '2_Dense', 'model.safetensors'), new Map([['linear.weight', { shape: [opts.dense.out, inF], data: w }], ['linear.bias', { shape: [opts.dense.out], data: b }]]));
    modules.push({ idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' });
  }
  if (opts.normalize) modules.push({ idx: 3, name: '3', path: '3_Normalize', type: 'sentence_transformers.models.Normalize' });
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules));
  return weights;
}
