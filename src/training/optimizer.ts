/**
 * Adam and AdamW written over tf.Variables, so that every bit of their state (step count,
 * first and second moments) can be read out for a checkpoint and put back on resume.
 *
 * The update follows torch.optim.AdamW / torch.optim.Adam (single-tensor, non-amsgrad path,
 * https://github.com/pytorch/pytorch/blob/main/torch/optim/adamw.py and adam.py):
 *
 *   t      = t + 1
 *   AdamW: p = p * (1 - lr * wd)             (decoupled decay, Loshchilov & Hutter 2019,
 *                                              https://arxiv.org/abs/1711.05101)
 *   Adam:  g = g + wd * p                     (L2 penalty folded into the gradient)
 *   m      = m + (g - m) * (1 - b1)           (torch writes this as lerp)
 *   v      = v * b2 + g * g * (1 - b2)
 *   denom  = sqrt(v) / sqrt(1 - b2^t) + eps   (eps added after the bias correction)
 *   p      = p - (lr / (1 - b1^t)) * m / denom
 */
import * as tf from '@tensorflow/tfjs-core';
import { readToHost } from '../backend/index.js';
import type { Recipe } from '../recipe/index.js';

export interface AdamOptions {
  /** 'adamw' decays weights directly; 'adam' adds wd * p to the gradient (torch semantics). */
  decoupled: boolean;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Which variables (by name) weight decay applies to; default all. See `decaysByDefault`. */
  decays?: (name: string) => boolean;
}

/**
 * The transformers Trainer rule, which sentence-transformers' trainer inherits
 * (`get_decay_parameter_names` in transformers' trainer.py): no weight decay for parameters of
 * LayerNorm modules, nor for any whose name contains "bias", "layernorm" or "rmsnorm" (case
 * ignored; so MPNet's `relative_attention_bias.weight` is not decayed either). Names are
 * PyTorch checkpoint names; LayerNorm modules are the ones named `LayerNorm` or `*layer_norm`
 * (DistilBERT's `sa_layer_norm`, `output_layer_norm`) in the supported architectures.
 */
export function decaysByDefault(name: string): boolean {
  const lower = name.toLowerCase();
  if (['bias', 'layernorm', 'rmsnorm'].some((s) => lower.includes(s))) return false;
  return !/(^|\.)[a-z_]*layer_norm\.[a-z]+$/.test(lower);
}

/** The recipe's optimizer.* keys as Adam options (every task's optimizer is built from these). */
export function adamOptionsOf(recipe: Recipe): AdamOptions {
  const o = recipe.optimizer;
  return { decoupled: o.name === 'adamw', betas: o.betas, eps: o.eps, weightDecay: o.weight_decay, decays: o.decay_bias_and_norm ? undefined : decaysByDefault };
}

/** What a checkpoint stores: the step and, per variable name, m and v. */
export interface OptimizerState {
  step: number;
  moments: Map<string, { m: Float32Array; v: Float32Array }>;
}

export class AdamOptimizer {
  private step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(private readonly opts: AdamOptions) {}

  get stepCount(): number {
    return this.step;
  }

  /**
   * One update of every variable in `params` (name -> variable) with its gradient in `grads`
   * (same names). Variables without a gradient are left alone, as torch skips p.grad = None.
   */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { betas, eps, weightDecay, decoupled } = this.opts;
    const [b1, b2] = betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    const stepSize = lr / bc1;
    for (const [name, p] of params) {
      const g0 = grads.get(name);
      if (!g0) continue;
      const m = this.moment(this.m, name, p);
      const v = this.moment(this.v, name, p);
      tf.tidy(() => {
        let g: tf.Tensor = g0;
        let base: tf.Tensor = p;
        if (weightDecay !== 0 && (this.opts.decays?.(name) ?? true)) {
          if (decoupled) base = tf.mul(p, 1 - lr * weightDecay);
          else g = tf.add(g, tf.mul(p, weightDecay));
        }
        const mNew = tf.add(m, tf.mul(tf.sub(g, m), 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.mul(g, g), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), bc2Sqrt), eps);
        const pNew = tf.sub(base, tf.mul(tf.div(mNew, denom), stepSize));
        m.assign(mNew);
        v.assign(vNew);
        p.assign(pNew);
      });
    }
  }

  private moment(store: Map<string, tf.Variable>, name: string, like: tf.Variable): tf.Variable {
    let s = store.get(name);
    if (!s) {
      s = tf.tidy(() => tf.variable(tf.zerosLike(like), false));
      store.set(name, s);
    }
    return s;
  }

  /** A copy of the full state, for a checkpoint. */
  async getState(): Promise<OptimizerState> {
    const [m, v] = await Promise.all([readToHost(this.m), readToHost(this.v)]);
    const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (const name of this.m.keys()) moments.set(name, { m: m.get(name)!, v: v.get(name)! });
    return { step: this.step, moments };
  }

  /** Put back a state read from a checkpoint; shapes come from `params`. */
  setState(state: OptimizerState, params: Map<string, tf.Variable>): void {
    this.disposeMoments();
    this.step = state.step;
    for (const [name, { m, v }] of state.moments) {
      const p = params.get(name);
      if (!p) throw new Error(`optimizer state names variable '${name}', which the model does not have`);
      if (m.length !== p.size || v.length !== p.size) throw new Error(`optimizer state for '${name}' has ${m.length} values, the variable ${p.size}`);
      this.m.set(name, tf.tidy(() => tf.variable(tf.tensor(m, p.shape, 'float32'), false)));
      this.v.set(name, tf.tidy(() => tf.variable(tf.tensor(v, p.shape, 'float32'), false)));
    }
  }

  private disposeMoments(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.m.clear();
    this.v.clear();
  }

  dispose(): void {
    this.disposeMoments();
  }
}
