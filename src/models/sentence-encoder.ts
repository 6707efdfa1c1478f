/**
 * A sentence-transformers model in tfjs: Transformer -> Pooling -> Dense* -> Normalize?, read
 * from and written to the sentence-transformers folder layout (modules.json,
 * sentence_bert_config.json, 1_Pooling/config.json, 2_Dense/, ...), so Python
 * `SentenceTransformer(path)` loads what we save and gives the same embeddings.
 * https://sbert.net/docs/sentence_transformer/usage/custom_models.html
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.js';
import { assertBackendHealthy, readToHost } from '../backend/index.js';
import { replaceDirAtomic, writeFileNamed } from '../util/fs.js';
import { l2Normalize } from '../similarity/index.js';
import { inferenceEngine } from '../engine/index.js';
import { intField, parseConfig, type TransformerConfig } from './config.js';
import { DenseLayer, activationFromTorch } from './dense.js';
import { readJson, resolveModelFolder } from './hub.js';
import { moduleFolder, parseModules } from './modules.js';
import { pool, poolingConfig, poolingModesFromConfig, type PoolingMode } from './pooling.js';
import { expectTensor, readSafetensors, writeSafetensors, type TensorInput } from './safetensors.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, isAdapterFolder, isBareAdapterFolder, loadBareAdapterFolder, mergedAdapterWeights } from './lora.js';
import { firstNonFinite } from './finite.js';
import { Tokenizer } from './tokenizer.js';
import { NAME_PREFIXES, TransformerModel, paramSpecs } from './transformer.js';
import type { EncodeOptions, Encoder, TokenBatch } from './types.js';
import { progressBar } from '../util/progress.js';
import { NO_PROMPTS, checkTruncateDim, promptsFromConfig, resolvePrompt, truncateRows, type PromptConfig } from './prompts.js';

export interface EncoderParts {
  transformer: TransformerModel;
  tokenizer: Tokenizer;
  maxSeqLength: number;
  pooling: PoolingMode[];
  dense: DenseLayer[];
  normalize: boolean;
  source: string;
  doLowerCase?: boolean;
  /** config_sentence_transformers.json's prompts and default_prompt_name (none when absent). */
  prompts?: PromptConfig;
  /** Pooling's include_prompt (default true): false would pool without the prompt's tokens, which sbert-train does not do. */
  includePrompt?: boolean;
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

  get tokenizer(): Tokenizer {
    return this.parts.tokenizer;
  }

  get poolingModes(): PoolingMode[] {
    return [...this.parts.pooling];
  }

  get normalizes(): boolean {
    return this.parts.normalize;
  }

  /** The model's prompts (name -> text) and default prompt name, as config_sentence_transformers.json holds them. */
  get prompts(): PromptConfig {
    const p = this.parts.prompts ?? NO_PROMPTS;
    return { prompts: { ...p.prompts }, defaultPromptName: p.defaultPromptName };
  }

  /** Replace the prompts saved with the model (a recipe's model.prompts). */
  setPrompts(cfg: PromptConfig): void {
    if (cfg.defaultPromptName !== null && !Object.hasOwn(cfg.prompts, cfg.defaultPromptName)) throw new Error(`internal: default prompt '${cfg.defaultPromptName}' is not a prompt`);
    this.parts.prompts = { prompts: { ...cfg.prompts }, defaultPromptName: cfg.defaultPromptName };
  }

  /** The text encode() prepends for these options (sentence-transformers' choice: prompt, then promptName, then the default). */
  promptFor(opts: { prompt?: string; promptName?: string }): string {
    const prompt = resolvePrompt(this.parts.prompts ?? NO_PROMPTS, opts, this.source);
    if (prompt !== '' && this.parts.includePrompt === false) {
      throw new ModelError(`${this.source}: its Pooling config says include_prompt: false (pool without the prompt's tokens), which sbert-train does not support; encode without a prompt, or set include_prompt to true`);
    }
    return prompt;
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
    if (opts.dim !== undefined) checkTruncateDim(opts.dim, this.dim, 'dim', this.source);
    const prompt = this.promptFor(opts);
    if (prompt !== '') texts = texts.map((t) => prompt + t);
    const rows = await this.encodeTexts(texts, opts);
    return opts.dim === undefined ? rows : truncateRows(rows, opts.dim);
  }

  private async encodeTexts(texts: string[], opts: EncodeOptions): Promise<Float32Array[]> {
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
      const data = await this.embedBatch(batch, opts.normalize ?? false);
      const bad = firstNonFinite(data);
      if (bad >= 0) {
        bar?.stop();
        const i = idx[Math.floor(bad / dim)];
        // Never hand NaN on: it would be written to files and indexes, and every comparison with it is false.
        throw new ModelError(`${this.source}: the embedding of the text at index ${i} (${snippet(texts[i])}) holds ${data[bad]}; the model overflows float32 on it`);
      }
      idx.forEach((i, r) => (out[i] = data.slice(r * dim, (r + 1) * dim)));
      bar?.update(Math.min(start + batchSize, texts.length));
      opts.onBatch?.(Math.min(start + batchSize, texts.length), texts.length);
      // Let the event loop breathe (Ctrl-C, progress rendering) between batches.
      await new Promise((r) => setImmediate(r));
    }
    bar?.stop();
    return out;
  }

  /**
   * One batch's embeddings [B, dim] on the active inference engine (src/engine: onnx when
   * initBackend chose it), else this encoder's tfjs forward pass.
   */
  private async embedBatch(batch: TokenBatch, normalize: boolean): Promise<Float32Array> {
    const engine = inferenceEngine();
    if (engine) {
      const data = await engine.embed(this, batch);
      if (normalize) normalizeRows(data, this.dim);
      return data;
    }
    const emb = tf.tidy(() => {
      const e = this.forward(batch);
      return normalize ? l2Normalize(e) : e;
    });
    const data = (await emb.data()) as Float32Array;
    emb.dispose();
    assertBackendHealthy();
    return data;
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

  /** Save in the sentence-transformers layout; `readme` replaces the short default README.md (a trainer's model card). */
  async save(dir: string, opts: { readme?: string; adapter?: AdapterFiles } = {}): Promise<void> {
    const values = await readToHost(this.namedWeights());
    replaceDirAtomic(dir, (tmp) => this.writeFolder(tmp, values, opts.readme, opts.adapter));
  }

  /** With `adapter`, the transformer's weights are a LoRA adapter in PEFT's layout (src/models/lora.ts) instead of model.safetensors. */
  private writeFolder(dir: string, values: Map<string, Float32Array>, readme?: string, adapter?: AdapterFiles): void {
    const json = (file: string, v: unknown) => {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileNamed(join(dir, file), JSON.stringify(v, null, 2) + '\n');
    };
    const modules: Record<string, unknown>[] = [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }];
    json('config.json', this.config.raw);
    if (adapter) {
      json(ADAPTER_CONFIG, adapter.config);
      writeSafetensors(join(dir, ADAPTER_WEIGHTS), adapter.tensors, { format: 'pt' });
    } else {
      writeSafetensors(join(dir, 'model.safetensors'), this.parts.transformer.exportWeights(values), { format: 'pt' });
    }
    for (const [name, bytes] of this.parts.tokenizer.files) writeFileNamed(join(dir, name), bytes);
    json('sentence_bert_config.json', { max_seq_length: this.maxSeqLength, do_lower_case: this.parts.doLowerCase ?? false });
    const prompts = this.parts.prompts ?? NO_PROMPTS;
    json('config_sentence_transformers.json', {
      __version__: { sbert_train: '0.1.0' },
      prompts: prompts.prompts,
      default_prompt_name: prompts.defaultPromptName,
      similarity_fn_name: 'cosine',
    });
    let idx = 1;
    const poolDir = `${idx}_Pooling`;
    json(`${poolDir}/config.json`, poolingConfig(this.parts.pooling, this.config.hiddenSize, this.parts.includePrompt !== false));
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
    writeFileNamed(
      join(dir, 'README.md'),
      readme ??
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
    inferenceEngine()?.release(this);
    this.parts.transformer.dispose();
    for (const d of this.parts.dense) d.dispose();
  }
}

/** Row-wise L2 normalisation in place, as l2Normalize (eps 1e-12), for host embeddings [n, dim]. */
function normalizeRows(data: Float32Array, dim: number): void {
  for (let r = 0; r < data.length; r += dim) {
    let ss = 0;
    for (let j = r; j < r + dim; j++) ss += data[j] * data[j];
    const scale = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let j = r; j < r + dim; j++) data[j] *= scale;
  }
}

/** A text, shortened for an error message. */
function snippet(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

/** Longest token sequence the position embeddings allow (RoBERTa-style ids start at pad+1). */
export function maxUsableLength(cfg: TransformerConfig): number {
  const offset = cfg.architecture === 'roberta' || cfg.architecture === 'xlm-roberta' || cfg.architecture === 'mpnet' ? cfg.padTokenId + 1 : 0;
  return cfg.maxPositions - offset;
}

export function seededUniform(seed: number): () => number {
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

/** What save() writes for a LoRA adapter: adapter_config.json and the adapter's tensors (PEFT names). */
export interface AdapterFiles {
  config: Record<string, unknown>;
  tensors: Map<string, TensorInput>;
}

/**
 * Load a sentence-transformers folder, or a plain Hugging Face folder (mean pooling). A folder
 * with a LoRA adapter (adapter_config.json, adapter_model.safetensors) instead of
 * model.safetensors loads its base model (base_model_name_or_path) with the adapter merged in.
 */
export async function loadFolder(folder: string, source: string): Promise<SentenceEncoder> {
  // Absolute, always: @huggingface/transformers reads a relative owner/name-shaped path as a hub id.
  const dir = resolve(folder);
  if (!existsSync(dir)) throw new ModelError(`model folder not found: ${folder}`);
  if (!statSync(dir).isDirectory()) throw new ModelError(`${dir}: not a folder`);
  if (isBareAdapterFolder(dir)) return loadBareAdapterFolder(dir); // PEFT's files alone: the base model with the adapter merged
  const modulesFile = join(dir, 'modules.json');
  const modules = existsSync(modulesFile) ? parseModules(readJson(modulesFile), modulesFile) : [];
  if (modules.length && modules[0].kind !== 'Transformer') throw new ModelError(`${modulesFile}: the first module must be a Transformer`);
  const tDir = modules.length ? moduleFolder(dir, modules[0], modulesFile) : dir;
  const cfgFile = join(tDir, 'config.json');
  if (!existsSync(cfgFile)) throw new ModelError(`${cfgFile}: missing config.json (not a model folder?)`);
  const cfg = parseConfig(readJson(cfgFile), cfgFile);
  const weights = isAdapterFolder(tDir) ? await mergedAdapterWeights(tDir, cfg) : loadTransformerWeights(tDir, cfg);
  const tokenizer = await Tokenizer.fromFolder(tDir);
  const { maxSeqLength, doLowerCase } = readSequenceConfig(tDir, cfg);

  let pooling: PoolingMode[] = ['mean'];
  let includePrompt = true;
  const dense: DenseLayer[] = [];
  let normalize = false;
  for (const m of modules.slice(1)) {
    const mdir = moduleFolder(dir, m, modulesFile);
    if (m.kind === 'Pooling') {
      // We always pool before the Dense layers; a file that orders them otherwise is not what we would run.
      if (dense.length) throw new ModelError(`${modulesFile}: ${m.label}: Pooling must come before Dense`);
      const pf = join(mdir, 'config.json');
      const pc = readJson(pf);
      pooling = poolingModesFromConfig(pc, pf);
      includePrompt = pc.include_prompt !== false;
      // sentence-transformers 5 names the field embedding_dimension.
      for (const key of ['word_embedding_dimension', 'embedding_dimension']) {
        const d = intField(pc, key, pf, 1);
        if (d !== undefined && d !== cfg.hiddenSize) throw new ModelError(`${pf}: ${key} ${d} does not match the transformer's hidden size ${cfg.hiddenSize}`);
      }
    } else if (m.kind === 'Dense') {
      const inDim = dense.length ? dense[dense.length - 1].outFeatures : cfg.hiddenSize * pooling.length;
      dense.push(loadDense(mdir, inDim, dense.length));
    } else if (m.kind === 'Normalize') {
      normalize = true;
    } else {
      throw new ModelError(`${modulesFile}: unsupported module type '${m.type}' (supported: Transformer, Pooling, Dense, Normalize)`);
    }
  }
  const stFile = join(dir, 'config_sentence_transformers.json');
  const prompts = existsSync(stFile) ? promptsFromConfig(readJson(stFile), stFile) : NO_PROMPTS;
  const transformer = new TransformerModel(cfg, weights);
  return new SentenceEncoder({ transformer, tokenizer, maxSeqLength, pooling, dense, normalize, source, doLowerCase, prompts, includePrompt });
}

/**
 * max_seq_length and do_lower_case from sentence_bert_config.json; without a max_seq_length,
 * the tokenizer's model_max_length, as sentence-transformers' Transformer does; never longer
 * than the position embeddings allow. A value that is not a whole number from 1 to
 * max_position_embeddings is an error: -5 or 0 would cut every text down to its special
 * tokens, so every text would get the same embedding.
 */
function readSequenceConfig(tDir: string, cfg: TransformerConfig): { maxSeqLength: number; doLowerCase: boolean } {
  const usable = maxUsableLength(cfg);
  const sbFile = join(tDir, 'sentence_bert_config.json');
  const sb = existsSync(sbFile) ? readJson(sbFile) : {};
  // Up to max_position_embeddings, not the usable length: RoBERTa-style folders often say 514 where 512 are usable (clamped).
  const n = intField(sb, 'max_seq_length', sbFile, 1, cfg.maxPositions, "the model's max_position_embeddings");
  if (sb.do_lower_case !== undefined && sb.do_lower_case !== null && typeof sb.do_lower_case !== 'boolean') {
    throw new ModelError(`${sbFile}: do_lower_case must be true or false, got ${JSON.stringify(sb.do_lower_case)}`);
  }
  const doLowerCase = sb.do_lower_case === true;
  if (n !== undefined) return { maxSeqLength: Math.min(n, usable), doLowerCase };
  const tcFile = join(tDir, 'tokenizer_config.json');
  // Tokenizers without a limit write a huge integer here (transformers' VERY_LARGE_INTEGER, 1e30).
  const ml = existsSync(tcFile) ? intField(readJson(tcFile), 'model_max_length', tcFile, 1) : undefined;
  return { maxSeqLength: Math.min(ml ?? usable, usable), doLowerCase };
}

/** A Dense module's folder; `inDim` is the size of the embedding it receives. */
function loadDense(mdir: string, inDim: number, i: number): DenseLayer {
  const cf = join(mdir, 'config.json');
  const c = readJson(cf);
  const inF = intField(c, 'in_features', cf, 1);
  const outF = intField(c, 'out_features', cf, 1);
  if (inF === undefined || outF === undefined) throw new ModelError(`${cf}: missing in_features / out_features`);
  if (inF !== inDim) throw new ModelError(`${cf}: in_features ${inF} does not match the ${inDim}-dimensional embedding that reaches this layer`);
  const act = activationFromTorch(String(c.activation_function ?? 'torch.nn.modules.activation.Tanh'), cf);
  const wf = join(mdir, 'model.safetensors');
  if (!existsSync(wf)) throw new ModelError(`${wf}: missing weight file${existsSync(join(mdir, 'pytorch_model.bin')) ? ' (only safetensors is supported)' : ''}`);
  const t = readSafetensors(wf);
  for (const [name, shape] of [['linear.weight', [outF, inF]], ['linear.bias', [outF]]] as const) {
    const got = t.get(name)?.shape;
    if (got && (got.length !== shape.length || got.some((d, k) => d !== shape[k]))) {
      throw new ModelError(`${wf}: tensor '${name}' has shape [${got.join(',')}] but ${cf} says in_features ${inF}, out_features ${outF}`);
    }
  }
  const w = expectTensor(t, 'linear.weight', [outF, inF], wf).data;
  const b = c.bias === false ? null : expectTensor(t, 'linear.bias', [outF], wf).data;
  return new DenseLayer(inF, outF, act, w, b, `dense.${i}`);
}

/** All files of a folder, for diagnostics. */
export function listFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export async function loadFromSpec(spec: string): Promise<SentenceEncoder> {
  const dir = await resolveModelFolder(spec);
  return loadFolder(dir, spec);
}
