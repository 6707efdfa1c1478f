/**
 * A sentence-transformers model in tfjs: Transformer -> Pooling -> Dense* -> Normalize?, read
 * from and written to the sentence-transformers folder layout (modules.json,
 * sentence_bert_config.json, 1_Pooling/config.json, 2_Dense/, ...), so Python
 * `SentenceTransformer(path)` loads what we save and gives the same embeddings.
 * https://sbert.net/docs/sentence_transformer/usage/custom_models.html
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.js';
import { assertBackendHealthy, readToHost } from '../backend/index.js';
import { replaceDirAtomic } from '../util/fs.js';
import { l2Normalize } from '../similarity/index.js';
import { parseConfig, type TransformerConfig } from './config.js';
import { DenseLayer, activationFromTorch } from './dense.js';
import { readJson, resolveModelFolder } from './hub.js';
import { pool, poolingConfig, poolingModesFromConfig, type PoolingMode } from './pooling.js';
import { expectTensor, readSafetensors, writeSafetensors } from './safetensors.js';
import { Tokenizer } from './tokenizer.js';
import { NAME_PREFIXES, TransformerModel, paramSpecs } from './transformer.js';
import type { EncodeOptions, Encoder, TokenBatch } from './types.js';
import { progressBar } from '../util/progress.js';

export interface EncoderParts {
  transformer: TransformerModel;
  tokenizer: Tokenizer;
  maxSeqLength: number;
  pooling: PoolingMode[];
  dense: DenseLayer[];
  normalize: boolean;
  source: string;
  doLowerCase?: boolean;
}

export class SentenceEncoder implements Encoder {
  readonly source: string;
  readonly maxSeqLength: number;
  private readonly frozen = new Set<string>();

  constructor(private readonly parts: EncoderParts) {
    this.source = parts.source;
    this.maxSeqLength = parts.maxSeqLength;
  }

  get transformer(): TransformerModel {
    return this.parts.transformer;
  }

  get config(): TransformerConfig {
    return this.parts.transformer.config;
  }

  get poolingModes(): PoolingMode[] {
    return [...this.parts.pooling];
  }

  get normalizes(): boolean {
    return this.parts.normalize;
  }

  get dim(): number {
    const d = this.parts.dense;
    return d.length ? d[d.length - 1].outFeatures : this.config.hiddenSize * this.parts.pooling.length;
  }

  tokenize(texts: string[]): TokenBatch {
    return this.parts.tokenizer.encode(texts, this.maxSeqLength);
  }

  /** Token embeddings of the last transformer layer, [B, T, H]. */
  tokenEmbeddings(batch: TokenBatch): tf.Tensor3D {
    return this.parts.transformer.forward(batch);
  }

  forward(batch: TokenBatch): tf.Tensor2D {
    return tf.tidy(() => {
      const tokens = this.parts.transformer.forward(batch);
      const mask = tf.tensor2d(batch.attentionMask, [batch.batchSize, batch.seqLen], 'int32');
      let x = pool(tokens, mask, this.parts.pooling);
      for (const d of this.parts.dense) x = d.apply(x);
      if (this.parts.normalize) x = l2Normalize(x);
      return x;
    });
  }

  async encode(texts: string[], opts: EncodeOptions = {}): Promise<Float32Array[]> {
    const batchSize = opts.batchSize ?? 32;
    // Longest first, as sentence-transformers does: batches of similar length pad less.
    const order = texts.map((_, i) => i).sort((a, b) => texts[b].length - texts[a].length || a - b);
    const out = new Array<Float32Array>(texts.length);
    const showBar = opts.progress ?? (texts.length > batchSize && Boolean(process.stderr.isTTY));
    const bar = showBar ? progressBar('encode', texts.length, 'sentences') : null;
    const dim = this.dim;
    for (let start = 0; start < order.length; start += batchSize) {
      const idx = order.slice(start, start + batchSize);
      const batch = this.tokenize(idx.map((i) => texts[i]));
      const emb = tf.tidy(() => {
        const e = this.forward(batch);
        return opts.normalize ? l2Normalize(e) : e;
      });
      const data = (await emb.data()) as Float32Array;
      emb.dispose();
      assertBackendHealthy();
      idx.forEach((i, r) => (out[i] = data.slice(r * dim, (r + 1) * dim)));
      bar?.update(Math.min(start + batchSize, texts.length));
      opts.onBatch?.(Math.min(start + batchSize, texts.length), texts.length);
      // Let the event loop breathe (Ctrl-C, progress rendering) between batches.
      await new Promise((r) => setImmediate(r));
    }
    bar?.stop();
    return out;
  }

  namedWeights(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>(this.parts.transformer.weights);
    this.parts.dense.forEach((d, i) => {
      out.set(`dense.${i}.linear.weight`, d.kernel);
      if (d.bias) out.set(`dense.${i}.linear.bias`, d.bias);
    });
    return out;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.namedWeights()].filter(([name]) => !this.frozen.has(name)).map(([, v]) => v);
  }

  freeze(opts: { embeddings?: boolean; layers?: number }): void {
    this.frozen.clear();
    const t = this.parts.transformer;
    for (const name of t.weights.keys()) {
      const g = t.groupOf(name);
      if ((opts.embeddings && g === 'embeddings') || (typeof g === 'number' && g < (opts.layers ?? 0))) this.frozen.add(name);
    }
  }

  async weightsHash(): Promise<string> {
    const h = createHash('sha256');
    const named = [...this.namedWeights()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const values = await readToHost(new Map(named));
    for (const [name, v] of named) {
      h.update(`${name}:${v.shape.join('x')};`);
      const data = values.get(name)!;
      h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    h.update(JSON.stringify({ pooling: this.parts.pooling, normalize: this.parts.normalize, max: this.maxSeqLength }));
    return h.digest('hex');
  }

  async save(dir: string): Promise<void> {
    const values = await readToHost(this.namedWeights());
    replaceDirAtomic(dir, (tmp) => this.writeFolder(tmp, values));
  }

  private writeFolder(dir: string, values: Map<string, Float32Array>): void {
    const json = (file: string, v: unknown) => {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), JSON.stringify(v, null, 2) + '\n');
    };
    const modules: Record<string, unknown>[] = [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }];
    json('config.json', this.config.raw);
    writeSafetensors(join(dir, 'model.safetensors'), this.parts.transformer.exportWeights(values), { format: 'pt' });
    for (const [name, bytes] of this.parts.tokenizer.files) writeFileSync(join(dir, name), bytes);
    json('sentence_bert_config.json', { max_seq_length: this.maxSeqLength, do_lower_case: this.parts.doLowerCase ?? false });
    json('config_sentence_transformers.json', {
      __version__: { sbert_train: '0.1.0' },
      prompts: {},
      default_prompt_name: null,
      similarity_fn_name: 'cosine',
    });
    let idx = 1;
    const poolDir = `${idx}_Pooling`;
    json(`${poolDir}/config.json`, poolingConfig(this.parts.pooling, this.config.hiddenSize));
    modules.push({ idx, name: String(idx), path: poolDir, type: 'sentence_transformers.models.Pooling' });
    for (const [i, d] of this.parts.dense.entries()) {
      idx++;
      const p = `${idx}_Dense`;
      json(`${p}/config.json`, d.config());
      const kernel = values.get(`dense.${i}.linear.weight`)!;
      writeSafetensors(join(dir, p, 'model.safetensors'), d.exportWeights(kernel, values.get(`dense.${i}.linear.bias`) ?? null), { format: 'pt' });
      modules.push({ idx, name: String(idx), path: p, type: 'sentence_transformers.models.Dense' });
    }
    if (this.parts.normalize) {
      idx++;
      const p = `${idx}_Normalize`;
      mkdirSync(join(dir, p), { recursive: true });
      modules.push({ idx, name: String(idx), path: p, type: 'sentence_transformers.models.Normalize' });
    }
    json('modules.json', modules);
    writeFileSync(
      join(dir, 'README.md'),
      `---\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\ntags:\n- sentence-transformers\n- sbert-train\n---\n\n# ${this.source}\n\nFine-tuned with sbert-train. Load it with:\n\n\`\`\`python\nfrom sentence_transformers import SentenceTransformer\nmodel = SentenceTransformer("path/to/this/folder")\n\`\`\`\n\nEmbedding dimension ${this.dim}, max sequence length ${this.maxSeqLength}, pooling ${this.parts.pooling.join('+')}${this.parts.normalize ? ', normalized' : ''}.\n`,
    );
  }

  /** Add a Dense projection (and optionally Normalize) on top, e.g. from a recipe. */
  addDense(outFeatures: number, activationName: string, seed: number): void {
    const inF = this.dim;
    const w = new Float32Array(outFeatures * inF);
    // Xavier/Glorot uniform as torch.nn.Linear's default kaiming-uniform(a=sqrt(5)) bound 1/sqrt(in).
    const rand = seededUniform(seed);
    const bound = 1 / Math.sqrt(inF);
    for (let i = 0; i < w.length; i++) w[i] = (rand() * 2 - 1) * bound;
    const b = new Float32Array(outFeatures);
    for (let i = 0; i < b.length; i++) b[i] = (rand() * 2 - 1) * bound;
    this.parts.dense.push(new DenseLayer(inF, outFeatures, activationName, w, b, `dense.${this.parts.dense.length}`));
  }

  setPooling(modes: PoolingMode[]): void {
    this.parts.pooling = modes;
  }

  setNormalize(on: boolean): void {
    this.parts.normalize = on;
  }

  setMaxSeqLength(n: number): void {
    (this as { maxSeqLength: number }).maxSeqLength = Math.min(n, maxUsableLength(this.config));
  }

  dispose(): void {
    this.parts.transformer.dispose();
    for (const d of this.parts.dense) d.dispose();
  }
}

/** Longest token sequence the position embeddings allow (RoBERTa-style ids start at pad+1). */
export function maxUsableLength(cfg: TransformerConfig): number {
  const offset = cfg.architecture === 'roberta' || cfg.architecture === 'xlm-roberta' || cfg.architecture === 'mpnet' ? cfg.padTokenId + 1 : 0;
  return cfg.maxPositions - offset;
}

function seededUniform(seed: number): () => number {
  // mulberry32: small, fast, good enough for initialisation; deterministic on every backend.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Load the transformer weights of a folder (model.safetensors) for `cfg`. */
function loadTransformerWeights(dir: string, cfg: TransformerConfig): Map<string, Float32Array> {
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) {
    if (existsSync(join(dir, 'pytorch_model.bin'))) {
      throw new ModelError(`${join(dir, 'pytorch_model.bin')}: only model.safetensors is supported; convert it (e.g. save_pretrained(..., safe_serialization=True))`);
    }
    throw new ModelError(`${file}: missing weight file`);
  }
  const tensors = readSafetensors(file);
  const prefix = NAME_PREFIXES.find((p) => tensors.has(`${p}embeddings.word_embeddings.weight`)) ?? '';
  const values = new Map<string, Float32Array>();
  for (const spec of paramSpecs(cfg)) {
    const name = prefix + spec.name;
    if (spec.optional && !tensors.has(name)) continue;
    values.set(spec.name, expectTensor(tensors, name, spec.shape, file).data);
  }
  return values;
}

interface ModuleEntry {
  path?: string;
  type?: string;
}

/** Load a sentence-transformers folder, or a plain Hugging Face folder (mean pooling). */
export async function loadFolder(dir: string, source: string): Promise<SentenceEncoder> {
  if (!statSync(dir).isDirectory()) throw new ModelError(`${dir}: not a folder`);
  const modulesFile = join(dir, 'modules.json');
  const modules: ModuleEntry[] = existsSync(modulesFile) ? (readJson(modulesFile) as unknown as ModuleEntry[]) : [];
  if (existsSync(modulesFile) && !Array.isArray(modules)) throw new ModelError(`${modulesFile}: expected a JSON list of modules`);
  const kind = (m: ModuleEntry) => String(m.type ?? '').split('.').pop() ?? '';

  const tIdx = modules.findIndex((m) => kind(m) === 'Transformer');
  if (modules.length && tIdx !== 0) throw new ModelError(`${modulesFile}: the first module must be a Transformer`);
  const tDir = modules.length ? join(dir, modules[0].path ?? '') : dir;
  const cfgFile = join(tDir, 'config.json');
  if (!existsSync(cfgFile)) throw new ModelError(`${cfgFile}: missing config.json (not a model folder?)`);
  const cfg = parseConfig(readJson(cfgFile), cfgFile);
  const weights = loadTransformerWeights(tDir, cfg);
  const tokenizer = await Tokenizer.fromFolder(tDir);

  let maxSeqLength = maxUsableLength(cfg);
  let doLowerCase = false;
  const sbFile = join(tDir, 'sentence_bert_config.json');
  if (existsSync(sbFile)) {
    const sb = readJson(sbFile);
    if (typeof sb.max_seq_length === 'number') maxSeqLength = Math.min(sb.max_seq_length, maxSeqLength);
    doLowerCase = sb.do_lower_case === true;
  } else {
    const tcFile = join(tDir, 'tokenizer_config.json');
    const ml = existsSync(tcFile) ? readJson(tcFile).model_max_length : undefined;
    if (typeof ml === 'number' && ml < maxSeqLength) maxSeqLength = ml;
  }

  let pooling: PoolingMode[] = ['mean'];
  const dense: DenseLayer[] = [];
  let normalize = false;
  for (const m of modules.slice(1)) {
    const mdir = join(dir, m.path ?? '');
    const k = kind(m);
    if (k === 'Pooling') {
      pooling = poolingModesFromConfig(readJson(join(mdir, 'config.json')), join(mdir, 'config.json'));
    } else if (k === 'Dense') {
      const cf = join(mdir, 'config.json');
      const c = readJson(cf);
      const inF = Number(c.in_features);
      const outF = Number(c.out_features);
      if (!Number.isInteger(inF) || !Number.isInteger(outF)) throw new ModelError(`${cf}: in_features / out_features must be integers`);
      const act = activationFromTorch(String(c.activation_function ?? 'torch.nn.modules.activation.Tanh'), cf);
      const wf = join(mdir, 'model.safetensors');
      if (!existsSync(wf)) throw new ModelError(`${wf}: missing weight file${existsSync(join(mdir, 'pytorch_model.bin')) ? ' (only safetensors is supported)' : ''}`);
      const t = readSafetensors(wf);
      const w = expectTensor(t, 'linear.weight', [outF, inF], wf).data;
      const b = c.bias === false ? null : expectTensor(t, 'linear.bias', [outF], wf).data;
      dense.push(new DenseLayer(inF, outF, act, w, b, `dense.${dense.length}`));
    } else if (k === 'Normalize') {
      normalize = true;
    } else {
      throw new ModelError(`${modulesFile}: unsupported module type '${m.type}' (supported: Transformer, Pooling, Dense, Normalize)`);
    }
  }
  const transformer = new TransformerModel(cfg, weights);
  return new SentenceEncoder({ transformer, tokenizer, maxSeqLength, pooling, dense, normalize, source, doLowerCase });
}

/** All files of a folder, for diagnostics. */
export function listFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export async function loadFromSpec(spec: string): Promise<SentenceEncoder> {
  const dir = await resolveModelFolder(spec);
  return loadFolder(dir, spec);
}
