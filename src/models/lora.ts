/**
 * LoRA adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models",
 * https://arxiv.org/abs/2106.09685) in the layout of Hugging Face PEFT
 * (https://huggingface.co/docs/peft/developer_guides/checkpoint), so that PEFT and
 * sentence-transformers load what we save and we load what they save.
 *
 * A LoRA adapter on a Linear layer y = x W^T + b (W [out, in]) adds a rank-r update:
 *
 *   y = x W^T + b + s * (x A^T) B^T        A [r, in], B [out, r], s = lora_alpha / r
 *                                          (lora_alpha / sqrt(r) with use_rslora)
 *
 * which is the same layer with the merged weight W' = W + s * B A. PEFT initialises A with
 * kaiming_uniform_(a = sqrt(5)) (uniform in +-1/sqrt(in)) and B with zeros, so a new adapter
 * starts as the base model exactly.
 *
 * Files (PEFT's `save_pretrained`):
 *   adapter_config.json        peft_type "LORA", r, lora_alpha, target_modules, base_model_name_or_path, ...
 *   adapter_model.safetensors  base_model.model.<module>.lora_A.weight [r, in]
 *                              base_model.model.<module>.lora_B.weight [out, r]
 * where <module> is the module's name in the transformers model (`encoder.layer.0.attention.self.query`
 * for the bare BertModel that sentence-transformers wraps; `bert.encoder...` for a task model).
 *
 * Targets follow PEFT's `target_modules` rule: a name matches a module whose full name equals it
 * or ends with "." + name (so `output.dense` matches both `attention.output.dense` and the
 * feed-forward `output.dense`). Only the encoder layers' linear layers are targets (not the
 * pooler, which sentence embeddings never use).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.js';
import { readToHost } from '../backend/index.js';
import type { TransformerConfig } from './config.js';
import { readJson } from './hub.js';
import { expectTensor, readSafetensors, type TensorInput } from './safetensors.js';
import { NAME_PREFIXES, paramSpecs, transpose2d } from './transformer.js';
import type { SentenceEncoder } from './sentence-encoder.js';
import { DEFAULT_LORA_TARGETS, LORA_TARGETS } from './lora-targets.js';

export { DEFAULT_LORA_TARGETS, LORA_TARGETS };

/** Where PEFT's saved names start (PeftModel wraps the model as base_model.model). */
const PEFT_PREFIX = 'base_model.model.';
export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** One adapted Linear layer: its module name and sizes (PyTorch's in_features, out_features). */
export interface LoraModule {
  module: string;
  inFeatures: number;
  outFeatures: number;
}

/** The encoder layers' Linear modules of an architecture (checkpoint names without `.weight`). */
export function linearModules(cfg: TransformerConfig): LoraModule[] {
  return paramSpecs(cfg)
    .filter((s) => s.linear && typeof s.group === 'number')
    .map((s) => ({ module: s.name.slice(0, -'.weight'.length), outFeatures: s.shape[0], inFeatures: s.shape[1] }));
}

/** PEFT's match: the module's name is the target or ends with "." + target. */
export function matchesTarget(module: string, target: string): boolean {
  return module === target || module.endsWith(`.${target}`);
}

/**
 * The modules `targets` select in a model of `cfg` (null: DEFAULT_LORA_TARGETS). A target that
 * selects nothing is a user mistake (a name of another architecture): one line naming the
 * targets that do exist. `field` names the recipe key or file in the message.
 */
export function selectModules(cfg: TransformerConfig, targets: readonly string[] | null, field: string): LoraModule[] {
  const all = linearModules(cfg);
  const wanted = targets ?? DEFAULT_LORA_TARGETS[cfg.architecture];
  const valid = LORA_TARGETS.filter((t) => all.some((m) => matchesTarget(m.module, t)));
  for (const t of wanted) {
    if (!all.some((m) => matchesTarget(m.module, t))) {
      throw new ModelError(`${field}: '${t}' names no linear layer of this ${cfg.architecture} model (its targets: ${valid.join(', ')})`);
    }
  }
  return all.filter((m) => wanted.some((t) => matchesTarget(m.module, t)));
}

/** The scaling PEFT applies to B A: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora. */
export function loraScale(r: number, alpha: number, rslora = false): number {
  return rslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** PEFT's tensor names of a module's adapter. */
export function adapterTensorNames(module: string): { a: string; b: string } {
  return { a: `${PEFT_PREFIX}${module}.lora_A.weight`, b: `${PEFT_PREFIX}${module}.lora_B.weight` };
}

/**
 * base + scale * B A, as a new Float32Array, in either layout of the base weight:
 * 'torch' W [out, in] (files) or 'kernel' W^T [in, out] (the encoder's variables). The sum
 * over the rank runs in double, in the same order for both layouts, and is rounded once, so
 * both layouts give the same values bit for bit.
 */
export function mergeLora(base: Float32Array, a: Float32Array, b: Float32Array, m: LoraModule, r: number, scale: number, layout: 'torch' | 'kernel'): Float32Array {
  const { inFeatures: nIn, outFeatures: nOut } = m;
  if (a.length !== r * nIn || b.length !== nOut * r || base.length !== nIn * nOut) throw new Error(`internal: LoRA sizes of ${m.module} do not match`);
  const out = new Float32Array(base.length);
  for (let o = 0; o < nOut; o++) {
    for (let i = 0; i < nIn; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += b[o * r + k] * a[k * nIn + i];
      const at = layout === 'torch' ? o * nIn + i : i * nOut + o;
      out[at] = base[at] + scale * d;
    }
  }
  return out;
}

/**
 * The gradients of A and B given G = d loss / d W'^T [in, out], the gradient of the merged
 * kernel (what the training engines compute for a full weight). From W'^T = W^T + s A^T B^T:
 *
 *   dA = s (G B)^T    [r, in]        dB = s (A G)^T    [out, r]
 *
 * Sums run in double and round once. Added into `dA` / `dB` when given (accumulation).
 */
export function loraGrads(
  g: Float32Array,
  a: Float32Array,
  b: Float32Array,
  m: LoraModule,
  r: number,
  scale: number,
  into?: { dA: Float32Array; dB: Float32Array },
): { dA: Float32Array; dB: Float32Array } {
  const { inFeatures: nIn, outFeatures: nOut } = m;
  const dA = into?.dA ?? new Float32Array(r * nIn);
  const dB = into?.dB ?? new Float32Array(nOut * r);
  const accA = new Float64Array(r);
  for (let i = 0; i < nIn; i++) {
    accA.fill(0);
    const row = i * nOut;
    for (let o = 0; o < nOut; o++) {
      const gi = g[row + o];
      if (gi === 0) continue;
      for (let k = 0; k < r; k++) accA[k] += gi * b[o * r + k];
    }
    for (let k = 0; k < r; k++) dA[k * nIn + i] += scale * accA[k];
  }
  const accB = new Float64Array(nOut * r); // [out, r]
  for (let i = 0; i < nIn; i++) {
    const row = i * nOut;
    for (let k = 0; k < r; k++) {
      const ak = a[k * nIn + i];
      if (ak === 0) continue;
      for (let o = 0; o < nOut; o++) accB[o * r + k] += ak * g[row + o];
    }
  }
  for (let j = 0; j < accB.length; j++) dB[j] += scale * accB[j];
  return { dA, dB };
}

/** What a LoRA run saves: the adapter's settings and where its base comes from. */
export interface AdapterSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** The recipe's target names (PEFT target_modules). */
  targets: string[];
  /** model.base of the run: a hub id, an absolute folder or builtin:NAME. */
  base: string;
}

/**
 * adapter_config.json as PEFT 0.17 writes it for a LoRA adapter: the same keys (sorted, as
 * PEFT's json.dumps(sort_keys=True)), PEFT's defaults for everything LoRA options we do not
 * have, and task_type FEATURE_EXTRACTION as sentence-transformers' documentation uses.
 * test/fixtures/peft/adapter_config.json is one PEFT wrote; the tests compare the key sets.
 */
export function adapterConfig(s: AdapterSettings): Record<string, unknown> {
  const c: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: s.base,
    bias: 'none',
    corda_config: null,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: s.alpha,
    lora_bias: false,
    lora_dropout: s.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    qalora_group_size: 16,
    r: s.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...s.targets].sort(),
    task_type: 'FEATURE_EXTRACTION',
    trainable_token_indices: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: false,
  };
  return Object.fromEntries(Object.entries(c).sort(([x], [y]) => (x < y ? -1 : 1)));
}

/** The adapter tensors in PEFT's names, from A and B by module (PyTorch layout, as held). */
export function adapterTensors(modules: LoraModule[], r: number, values: (module: string) => { a: Float32Array; b: Float32Array }): Map<string, TensorInput> {
  const out = new Map<string, TensorInput>();
  for (const m of modules) {
    const { a, b } = values(m.module);
    const names = adapterTensorNames(m.module);
    out.set(names.a, { shape: [r, m.inFeatures], data: a });
    out.set(names.b, { shape: [m.outFeatures, r], data: b });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loading an adapter folder

/** The LoRA settings read from an adapter_config.json (PEFT's, or ours). */
interface ReadConfig {
  base: string;
  r: number;
  alpha: number;
  rslora: boolean;
  modulesToSave: string[];
}

function readAdapterConfig(file: string): ReadConfig {
  const c = readJson(file);
  const fail = (why: string): never => {
    throw new ModelError(`${file}: ${why}`);
  };
  if (c.peft_type !== 'LORA') fail(`peft_type ${JSON.stringify(c.peft_type)}: only LoRA adapters ("LORA") are supported`);
  if (typeof c.base_model_name_or_path !== 'string' || c.base_model_name_or_path === '') fail('base_model_name_or_path is missing: the adapter needs its base model');
  if (!Number.isInteger(c.r) || (c.r as number) < 1) fail(`r must be a whole number >= 1, got ${JSON.stringify(c.r)}`);
  if (typeof c.lora_alpha !== 'number' || !Number.isFinite(c.lora_alpha)) fail(`lora_alpha must be a number, got ${JSON.stringify(c.lora_alpha)}`);
  if (c.use_dora === true) fail('use_dora: DoRA adapters are not supported (plain LoRA only)');
  if (c.fan_in_fan_out === true) fail('fan_in_fan_out: true is for GPT-2 Conv1D layers; the encoders here have Linear layers');
  for (const k of ['rank_pattern', 'alpha_pattern']) {
    const v = c[k];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) fail(`${k}: per-module ranks and alphas are not supported`);
  }
  const mts = c.modules_to_save;
  return {
    base: c.base_model_name_or_path as string,
    r: c.r as number,
    alpha: c.lora_alpha as number,
    rslora: c.use_rslora === true,
    modulesToSave: Array.isArray(mts) ? mts.filter((x): x is string => typeof x === 'string') : [],
  };
}

/** Whether `dir` holds an adapter rather than full weights (a model folder with both is refused). */
export function isAdapterFolder(dir: string): boolean {
  if (!existsSync(join(dir, ADAPTER_CONFIG))) return false;
  if (existsSync(join(dir, 'model.safetensors'))) {
    throw new ModelError(`${dir}: holds both model.safetensors and an adapter (${ADAPTER_CONFIG}); keep one (a merged model or an adapter on its base)`);
  }
  return true;
}

/** A PEFT folder without a sentence-transformers or transformers config: the base model is the whole model. */
export function isBareAdapterFolder(dir: string): boolean {
  return isAdapterFolder(dir) && !existsSync(join(dir, 'modules.json')) && !existsSync(join(dir, 'config.json'));
}

/** The base model of an adapter, loaded as a whole encoder (its own pooling, tokenizer, ...). */
async function loadBase(spec: string, dir: string): Promise<SentenceEncoder> {
  // A cycle at run time only: ./index.js imports the encoder, which imports this module.
  const { loadEncoder } = await import('./index.js');
  // A relative folder resolves against the working folder, as PEFT does; failing that, beside the adapter.
  const local = !spec.startsWith('builtin:') && !existsSync(spec) && existsSync(resolve(dir, spec)) ? resolve(dir, spec) : spec;
  try {
    return await loadEncoder(local);
  } catch (e) {
    if (e instanceof ModelError) throw new ModelError(`${join(dir, ADAPTER_CONFIG)}: its base model (base_model_name_or_path) does not load: ${e.message}`);
    throw e;
  }
}

/**
 * The merged weights of an adapter folder, in PyTorch layout by checkpoint name, for a model of
 * `cfg`: the base model's weights (base_model_name_or_path) plus scale * B A on every adapted
 * module, and any full tensors the adapter carries for modules of the encoder (bias: all,
 * modules_to_save). Tensors of modules the encoder does not have (a classifier head saved by
 * modules_to_save) are left out; any other unknown tensor is an error.
 */
export async function mergedAdapterWeights(dir: string, cfg: TransformerConfig): Promise<Map<string, Float32Array>> {
  const config = readAdapterConfig(join(dir, ADAPTER_CONFIG));
  const base = await loadBase(config.base, dir);
  let weights: Map<string, Float32Array>;
  try {
    const b = base.config;
    for (const k of ['architecture', 'hiddenSize', 'numLayers', 'intermediateSize', 'vocabSize'] as const) {
      if (b[k] !== cfg[k]) throw new ModelError(`${join(dir, ADAPTER_CONFIG)}: the base model ${config.base} has ${k} ${b[k]}, but ${join(dir, 'config.json')} says ${cfg[k]}`);
    }
    const exported = base.transformer.exportWeights(await readToHost(base.transformer.weights));
    weights = new Map([...exported].map(([name, t]) => [name, t.data]));
  } finally {
    base.dispose();
  }
  applyAdapter(dir, config, cfg, weights);
  return weights;
}

/** Load a bare PEFT adapter folder: the base encoder with the adapter merged into its weights. */
export async function loadBareAdapterFolder(dir: string): Promise<SentenceEncoder> {
  const config = readAdapterConfig(join(dir, ADAPTER_CONFIG));
  const encoder = await loadBase(config.base, dir);
  try {
    const t = encoder.transformer;
    const values = new Map([...t.exportWeights(await readToHost(t.weights))].map(([name, w]) => [name, w.data]));
    const changed = applyAdapter(dir, config, encoder.config, values);
    const specs = new Map(paramSpecs(encoder.config).map((s) => [s.name, s]));
    for (const name of changed) {
      const s = specs.get(name)!;
      const data = values.get(name)!;
      const v = t.weights.get(name)!;
      tf.tidy(() => v.assign(tf.tensor(s.linear ? transpose2d(data, s.shape[0], s.shape[1]) : data, v.shape, 'float32')));
    }
    return encoder;
  } catch (e) {
    encoder.dispose();
    throw e;
  }
}

/** Merge the adapter in `dir` into `weights` (PyTorch layout, in place); returns the names changed. */
function applyAdapter(dir: string, config: ReadConfig, cfg: TransformerConfig, weights: Map<string, Float32Array>): Set<string> {
  const file = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(file)) {
    throw new ModelError(`${file}: missing adapter weights${existsSync(join(dir, 'adapter_model.bin')) ? ' (only safetensors is supported: adapter_model.bin is a pickle)' : ''}`);
  }
  const tensors = readSafetensors(file);
  const specs = new Map(paramSpecs(cfg).map((s) => [s.name, s]));
  const modules = new Map(linearModules(cfg).map((m) => [m.module, m]));
  /** A saved name without PeftModel's prefix and a task model's (bert., roberta., ...). */
  const local = (name: string): string => {
    const rest = name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : name;
    for (const p of NAME_PREFIXES) if (p && rest.startsWith(p) && specs.has(rest.slice(p.length).replace(/\.lora_[AB]\.weight$/, '.weight'))) return rest.slice(p.length);
    return rest;
  };
  const scale = loraScale(config.r, config.alpha, config.rslora);
  const changed = new Set<string>();
  const pairs = new Map<string, { a?: string; b?: string }>();
  for (const name of tensors.keys()) {
    const n = local(name);
    const lora = /^(.*)\.lora_([AB])\.weight$/.exec(n);
    if (lora) {
      if (!modules.has(lora[1])) throw new ModelError(`${file}: tensor '${name}' adapts '${lora[1]}', which is not a linear layer of this ${cfg.architecture} model`);
      const p = pairs.get(lora[1]) ?? {};
      if (lora[2] === 'A') p.a = name;
      else p.b = name;
      pairs.set(lora[1], p);
    } else if (/\.lora_(embedding_)?[AB]\b|\.lora_magnitude_vector\b/.test(n)) {
      throw new ModelError(`${file}: tensor '${name}': only LoRA on Linear layers is supported`);
    } else if (specs.has(n)) {
      weights.set(n, expectTensor(tensors, name, specs.get(n)!.shape, file).data); // a full tensor: bias 'all', modules_to_save
      changed.add(n);
    } else if (!config.modulesToSave.some((m) => matchesTarget(n.split('.').slice(0, -1).join('.'), m) || n.startsWith(`${m}.`))) {
      throw new ModelError(`${file}: tensor '${name}' belongs to no module of this ${cfg.architecture} model`);
    } // else: a task head the sentence encoder does not have (modules_to_save: classifier)
  }
  for (const [module, p] of pairs) {
    if (!p.a || !p.b) throw new ModelError(`${file}: '${module}' has lora_${p.a ? 'A' : 'B'} but no lora_${p.a ? 'B' : 'A'}`);
    const m = modules.get(module)!;
    const a = expectTensor(tensors, p.a, [config.r, m.inFeatures], file).data;
    const b = expectTensor(tensors, p.b, [m.outFeatures, config.r], file).data;
    const name = `${module}.weight`;
    weights.set(name, mergeLora(weights.get(name)!, a, b, m, config.r, scale, 'torch'));
    changed.add(name);
  }
  if (pairs.size === 0) throw new ModelError(`${file}: no lora_A / lora_B tensors`);
  return changed;
}
