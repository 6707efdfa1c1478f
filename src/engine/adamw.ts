/**
 * Adam / AdamW as one fused pass over Float32Arrays, for engines that keep the weights on the
 * host (the onnx training engine). Same update, state and decay rule as
 * src/training/optimizer.ts (torch.optim.AdamW / Adam semantics; see there for the formula),
 * and bit-identical to it: that optimizer runs one tfjs op per term, each rounding to float32,
 * and this pass rounds every term with Math.fround in the same order (float32 +, *, / and sqrt
 * are correctly rounded, and so is a double result rounded once to float32, so the results
 * match the tfjs cpu and wasm kernels bit for bit; test/onnx-training.test.ts checks it).
 *
 * One pass reads p, g, m, v once and writes p, m, v once (the tfjs version makes eight
 * temporary tensors per weight). AdamW runs as a WebAssembly SIMD kernel (./adamw-simd.ts,
 * four float32 lanes per instruction; MiniLM-L6's 22.7M weights in ~0.1 s instead of ~0.45 s
 * for the JS loop on this machine); Adam with L2 decay, and runtimes without SIMD, take the
 * JS loop.
 */
import type { AdamOptions, OptimizerState } from '../training/optimizer.js';
import { SimdAdamW } from './adamw-simd.js';

const f = Math.fround;

export class HostAdamW {
  private step = 0;
  /** The JS loop's moments (when `simd` is null). */
  private readonly moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  private readonly simd: SimdAdamW | null;

  /** `simd: false` forces the JS loop (tests compare the two). */
  constructor(
    private readonly opts: AdamOptions,
    options: { simd?: boolean } = {},
  ) {
    // The kernel has no L2 term: Adam with weight decay keeps the JS loop.
    this.simd = options.simd !== false && (opts.decoupled || opts.weightDecay === 0) ? SimdAdamW.create() : null;
  }

  /** 'simd' or 'js': which loop apply() runs. */
  get kernel(): string {
    return this.simd ? 'simd' : 'js';
  }

  get stepCount(): number {
    return this.step;
  }

  /** One update of every weight in `params` that has a gradient in `grads` (updated in place). */
  apply(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number): void {
    this.step += 1;
    const { betas, eps, weightDecay, decoupled } = this.opts;
    const [b1, b2] = betas;
    const oneMinusB1 = f(1 - b1);
    const b2f = f(b2);
    const oneMinusB2 = f(1 - b2);
    const bc2Sqrt = f(Math.sqrt(1 - b2 ** this.step));
    const stepSize = f(lr / (1 - b1 ** this.step));
    const epsF = f(eps);
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) continue;
      if (g.length !== p.length) throw new Error(`internal: gradient of ${name} has ${g.length} values, the weight ${p.length}`);
      if (this.simd) {
        const decays = weightDecay !== 0 && (this.opts.decays?.(name) ?? true);
        this.simd.allocate(name, p.length);
        this.simd.update(name, p, g, { keep: decays ? f(1 - lr * weightDecay) : 1, c1: oneMinusB1, b2: b2f, c2: oneMinusB2, bc2: bc2Sqrt, eps: epsF, stepSize });
        continue;
      }
      let st = this.moments.get(name);
      if (!st) {
        st = { m: new Float32Array(p.length), v: new Float32Array(p.length) };
        this.moments.set(name, st);
      }
      const { m, v } = st;
      const decays = weightDecay !== 0 && (this.opts.decays?.(name) ?? true);
      const keep = decays && decoupled ? f(1 - lr * weightDecay) : 1;
      const l2 = decays && !decoupled ? f(weightDecay) : 0;
      for (let i = 0; i < p.length; i++) {
        const pi = p[i];
        const gi = l2 ? f(g[i] + f(pi * l2)) : g[i];
        const mi = f(m[i] + f(f(gi - m[i]) * oneMinusB1));
        const vi = f(f(v[i] * b2f) + f(f(gi * gi) * oneMinusB2));
        const denom = f(f(f(Math.sqrt(vi)) / bc2Sqrt) + epsF);
        const base = keep === 1 ? pi : f(pi * keep);
        p[i] = f(base - f(f(mi / denom) * stepSize));
        m[i] = mi;
        v[i] = vi;
      }
    }
  }

  /** A copy of the state, for a checkpoint (the same shape AdamOptimizer gives). */
  async getState(): Promise<OptimizerState> {
    const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
    if (this.simd) {
      for (const name of this.simd.names()) {
        const { m, v } = this.simd.moments(name)!;
        moments.set(name, { m: m.slice(), v: v.slice() });
      }
    }
    for (const [name, { m, v }] of this.moments) moments.set(name, { m: m.slice(), v: v.slice() });
    return { step: this.step, moments };
  }

  /** Put back a checkpoint's state; sizes are checked against `params`. */
  setState(state: OptimizerState, params: Map<string, { size: number }>): void {
    this.moments.clear();
    this.simd?.clear();
    this.step = state.step;
    for (const [name, { m, v }] of state.moments) {
      const p = params.get(name);
      if (!p) throw new Error(`optimizer state names variable '${name}', which the model does not have`);
      if (m.length !== p.size || v.length !== p.size) throw new Error(`optimizer state for '${name}' has ${m.length} values, the variable ${p.size}`);
      if (this.simd) {
        this.simd.allocate(name, p.size);
        const dst = this.simd.moments(name)!;
        dst.m.set(m);
        dst.v.set(v);
      } else {
        this.moments.set(name, { m: m.slice(), v: v.slice() });
      }
    }
  }

  dispose(): void {
    this.moments.clear();
    this.simd?.clear();
  }
}
