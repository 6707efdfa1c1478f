/**
 * LoRA training (recipe `model.lora`), on both training engines, as a reparametrisation: the
 * encoder's targeted kernels hold the merged weight W'^T = W^T + s A^T B^T (src/models/lora.ts),
 * the engine computes the gradient G of that full kernel as it does for any weight, and
 * loraGrads turns G into the gradients of A and B. The optimizer holds A and B only (its state
 * is 2 x the adapter's size); the base weights are never stepped: every weight but the
 * targeted kernels stays bit-identical, and the base kernels are kept here, so the merged
 * kernels are recomputed from them after every update (never drifting by rounding).
 *
 *   tfjs engine  trainer.ts stepOnce takes gradients of `kernels`, hands them to
 *                `adapterGrads`, steps `variables` (A and B), then calls `refresh`.
 *   onnx engine  `LoraEngine` wraps the onnx training engine: its backward returns the
 *                adapters' gradients, its step updates A and B on the host and loads the new
 *                merged kernels into the wrapped engine.
 *
 * This is exact because nothing in training applies dropout: with dropout on the adapter's
 * input (PEFT lora_dropout) the adapter branch would no longer be a function of the merged
 * weight, so recipes refuse lora.dropout > 0 (src/recipe/rules.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readToHost } from '../backend/index.js';
import type { TrainingEngine } from '../engine/index.js';
import type { HostAdamW } from '../engine/adamw.js';
import { seededUniform, type SentenceEncoder } from '../models/sentence-encoder.js';
import { toVariable } from '../models/transformer.js';
import type { TensorInput } from '../models/safetensors.js';
import { adapterConfig, adapterTensors, loraGrads, loraScale, mergeLora, selectModules, type LoraModule } from '../models/lora.js';

/** The recipe's model.lora. */
export interface LoraOptions {
  r: number;
  alpha: number;
  dropout: number;
  target: readonly string[] | null;
}

/** The checkpoint names of a module's adapter weights (held beside the encoder's in checkpoints). */
export function adapterNames(module: string): { a: string; b: string } {
  return { a: `${module}.lora_A.weight`, b: `${module}.lora_B.weight` };
}

export class LoraTraining {
  /** A [r, in] and B [out, r] by adapter name: what the optimizer steps. */
  readonly variables = new Map<string, tf.Variable>();
  /** The encoder's targeted kernels ([in, out]) by checkpoint name: what gradients are taken of. */
  readonly kernels = new Map<string, tf.Variable>();
  readonly scale: number;

  private constructor(
    readonly modules: LoraModule[],
    readonly options: LoraOptions,
    /** The base kernels [in, out], by checkpoint name, as loaded: never changed. */
    private readonly base: Map<string, Float32Array>,
  ) {
    this.scale = loraScale(options.r, options.alpha);
  }

  /**
   * Adapters on `encoder`'s targeted layers: A kaiming-uniform (a = sqrt(5), so uniform in
   * +-1/sqrt(in), PEFT's init_lora_weights=True) from `seed`, B zero, so the model starts as
   * the base model exactly.
   */
  static async attach(encoder: SentenceEncoder, options: LoraOptions, seed: number): Promise<LoraTraining> {
    const modules = selectModules(encoder.config, options.target, 'model.lora.target');
    const weights = encoder.transformer.weights;
    const kernels = new Map(modules.map((m) => [`${m.module}.weight`, weights.get(`${m.module}.weight`)!]));
    const base = await readToHost(kernels);
    const lora = new LoraTraining(modules, options, base);
    const rand = seededUniform(seed);
    const r = options.r;
    for (const m of modules) {
      const bound = 1 / Math.sqrt(m.inFeatures);
      const a = new Float32Array(r * m.inFeatures);
      for (let i = 0; i < a.length; i++) a[i] = (rand() * 2 - 1) * bound;
      const names = adapterNames(m.module);
      lora.variables.set(names.a, toVariable(a, [r, m.inFeatures]));
      lora.variables.set(names.b, toVariable(new Float32Array(m.outFeatures * r), [m.outFeatures, r]));
    }
    for (const [name, v] of kernels) lora.kernels.set(name, v);
    return lora;
  }

  /** The encoder's weights and the adapters, by checkpoint name (what checkpoints and best-model snapshots hold). */
  withAdapters(weights: Map<string, tf.Variable>): Map<string, tf.Variable> {
    const out = new Map(weights);
    for (const [name, v] of this.variables) out.set(name, v);
    return out;
  }

  /** Adapter gradients (by adapter name) from the targeted kernels' gradients; adds into `into` when given. */
  adapterGradsHost(kernelGrads: Map<string, Float32Array>, adapters: Map<string, Float32Array>, into = new Map<string, Float32Array>()): Map<string, Float32Array> {
    const r = this.options.r;
    for (const m of this.modules) {
      const g = kernelGrads.get(`${m.module}.weight`);
      if (!g) continue;
      const names = adapterNames(m.module);
      const dA = into.get(names.a);
      const dB = into.get(names.b);
      const out = loraGrads(g, adapters.get(names.a)!, adapters.get(names.b)!, m, r, this.scale, dA && dB ? { dA, dB } : undefined);
      into.set(names.a, out.dA);
      into.set(names.b, out.dB);
    }
    return into;
  }

  /** The tfjs path: kernel gradients (disposed here) to adapter gradients, as tensors. */
  async adapterGrads(kernelGrads: Map<string, tf.Tensor>): Promise<Map<string, tf.Tensor>> {
    const [g, adapters] = await Promise.all([readToHost(kernelGrads), readToHost(this.variables)]);
    for (const t of kernelGrads.values()) t.dispose();
    const out = new Map<string, tf.Tensor>();
    for (const [name, d] of this.adapterGradsHost(g, adapters)) out.set(name, tf.tensor(d, this.variables.get(name)!.shape, 'float32'));
    return out;
  }

  /** The merged kernels [in, out] for adapter values `adapters`. */
  mergedKernels(adapters: Map<string, Float32Array>): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const m of this.modules) {
      const names = adapterNames(m.module);
      const name = `${m.module}.weight`;
      out.set(name, mergeLora(this.base.get(name)!, adapters.get(names.a)!, adapters.get(names.b)!, m, this.options.r, this.scale, 'kernel'));
    }
    return out;
  }

  /** The tfjs path: write the merged kernels of the current adapters into the encoder. */
  async refresh(): Promise<void> {
    for (const [name, data] of this.mergedKernels(await readToHost(this.variables))) {
      const v = this.kernels.get(name)!;
      tf.tidy(() => v.assign(tf.tensor(data, v.shape, 'float32')));
    }
  }

  /** What SentenceEncoder.save writes instead of model.safetensors: the adapter in PEFT's layout. */
  async adapterFiles(base: string): Promise<{ config: Record<string, unknown>; tensors: Map<string, TensorInput> }> {
    const values = await readToHost(this.variables);
    const o = this.options;
    return {
      config: adapterConfig({ r: o.r, alpha: o.alpha, dropout: o.dropout, targets: o.target ? [...o.target] : defaultTargetsOf(this.modules), base }),
      tensors: adapterTensors(this.modules, o.r, (module) => {
        const names = adapterNames(module);
        return { a: values.get(names.a)!, b: values.get(names.b)! };
      }),
    };
  }

  /** Number of adapter weights (what the optimizer holds two moments of). */
  get size(): number {
    let n = 0;
    for (const v of this.variables.values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}

/**
 * The onnx engine with LoRA: forward passes as the wrapped engine; backward gives the adapters'
 * gradients (the wrapped engine's kernel gradients through loraGrads; the other weights'
 * gradients are dropped, as they are frozen); step updates A and B held here on the host with
 * `optimizer` and loads the merged kernels into the wrapped engine.
 */
export class LoraEngine<S> implements TrainingEngine<S> {
  version = 0;

  private constructor(
    private readonly inner: TrainingEngine<S>,
    private readonly lora: LoraTraining,
    private readonly optimizer: HostAdamW,
    private readonly adapters: Map<string, Float32Array>,
  ) {}

  /** `inner` was created without an optimizer, from the encoder's current (merged) weights. */
  static async create<S>(inner: TrainingEngine<S>, lora: LoraTraining, optimizer: HostAdamW): Promise<LoraEngine<S>> {
    return new LoraEngine(inner, lora, optimizer, await readToHost(lora.variables));
  }

  get name(): string {
    return `${this.inner.name}+lora`;
  }

  get dim(): number {
    return this.inner.dim;
  }

  forward(batch: Parameters<TrainingEngine<S>['forward']>[0]): ReturnType<TrainingEngine<S>['forward']> {
    return this.inner.forward(batch);
  }

  async backward(saved: S, dEmbeddings: Float32Array, into?: Map<string, Float32Array>): Promise<Map<string, Float32Array>> {
    const full = await this.inner.backward(saved, dEmbeddings);
    return this.lora.adapterGradsHost(full, this.adapters, into);
  }

  step(gradients: Map<string, Float32Array>, lr: number): void {
    this.optimizer.apply(this.adapters, gradients, lr);
    this.inner.load(this.lora.mergedKernels(this.adapters));
    this.version += 1;
  }

  weights(): Map<string, { data: Float32Array; shape: number[] }> {
    const out = new Map(this.inner.weights());
    for (const [name, data] of this.adapters) out.set(name, { data, shape: [...this.lora.variables.get(name)!.shape] });
    return out;
  }

  load(weights: Map<string, Float32Array>): void {
    const rest = new Map<string, Float32Array>();
    for (const [name, data] of weights) {
      const held = this.adapters.get(name);
      if (held) held.set(data);
      else rest.set(name, data);
    }
    this.inner.load(rest);
    this.version += 1;
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}

/** The target names of the architecture's default (when the recipe left target null), for adapter_config.json. */
function defaultTargetsOf(modules: LoraModule[]): string[] {
  return [...new Set(modules.map((m) => m.module.split('.').pop()!))];
}
