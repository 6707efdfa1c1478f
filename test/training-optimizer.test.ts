import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { ROOT } from './helpers/cli.js';
import { AdamOptimizer, decaysByDefault } from '../src/training/optimizer.js';
import { parseConfig } from '../src/models/config.js';
import { paramSpecs } from '../src/models/transformer.js';
import { makeSchedule, warmupFromRatio } from '../src/training/schedule.js';
import { clipByGlobalNorm, clipPerVariable, globalNorm } from '../src/training/clip.js';

await tf.setBackend('cpu');

const GRADS = [
  [0.5, -0.3],
  [-0.3, 0.1],
  [0.2, 0.4],
];

// Reference trajectories computed in float64 (Python) from the torch.optim.AdamW / Adam update
// rules with lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8, start p = [1, -2].
const ADAMW_REF = [
  [0.899000002, -1.8980000033333333],
  [0.8789511989397751, -1.8560801479247475],
  [0.8433294795899422, -1.8851799428181453],
];
const ADAM_REF = [
  [0.9000000019607843, -1.900000003125],
  [0.8787012438702138, -1.8533134564929867],
  [0.8417716298330955, -1.878038409369446],
];

function runSteps(decoupled: boolean): number[][] {
  const p = tf.tidy(() => tf.variable(tf.tensor1d([1, -2])));
  const opt = new AdamOptimizer({ decoupled, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  const params = new Map([['w', p]]);
  const out: number[][] = [];
  for (const g of GRADS) {
    const gt = tf.tensor1d(g);
    opt.apply(params, new Map([['w', gt]]), 0.1);
    gt.dispose();
    out.push(Array.from(p.dataSync()));
  }
  opt.dispose();
  p.dispose();
  return out;
}

function close(a: number[][], b: number[][], tol: number) {
  a.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - b[i][j]) < tol, `step ${i + 1}[${j}]: ${x} vs ${b[i][j]}`)));
}

test('AdamW matches the torch.optim.AdamW update (decoupled decay, bias correction, eps after correction)', () => {
  const before = tf.memory().numTensors;
  close(runSteps(true), ADAMW_REF, 2e-6);
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
});

test('Adam folds weight decay into the gradient like torch.optim.Adam', () => {
  close(runSteps(false), ADAM_REF, 2e-6);
});

interface TorchOptimFixture {
  torch: string;
  shapes: Record<string, number[]>;
  lr: number[];
  init: Record<string, number[]>;
  grads: Record<string, number[]>[];
  cases: { name: string; decoupled: boolean; betas: [number, number]; eps: number; weight_decay: number; clip_max_norm: number | null; grad_norms: number[]; params: Record<string, number[]>[] }[];
}

test('24 steps of AdamW / Adam with clipping and a changing lr follow torch.optim (benchmarks/peers/optimizer_reference.py)', () => {
  const fx = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'optim', 'torch_optim.json'), 'utf8')) as TorchOptimFixture;
  for (const c of fx.cases) {
    const params = new Map(Object.entries(fx.init).map(([k, v]) => [k, tf.variable(tf.tensor(v, fx.shapes[k]))]));
    const opt = new AdamOptimizer({ decoupled: c.decoupled, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay });
    const before = tf.memory().numTensors;
    let worst = 0;
    fx.grads.forEach((step, s) => {
      const raw = new Map(Object.entries(step).map(([k, v]) => [k, tf.tensor(v, fx.shapes[k]) as tf.Tensor]));
      let grads = raw;
      if (c.clip_max_norm !== null) {
        const clipped = clipByGlobalNorm(raw, c.clip_max_norm);
        const norm = clipped.norm.dataSync()[0];
        clipped.norm.dispose();
        assert.ok(Math.abs(norm - c.grad_norms[s]) <= 1e-5 * c.grad_norms[s], `${c.name} step ${s + 1}: grad norm ${norm} vs torch ${c.grad_norms[s]}`);
        grads = clipped.grads;
      }
      opt.apply(params, grads, fx.lr[s]);
      for (const t of new Set([...raw.values(), ...grads.values()])) t.dispose();
      for (const [k, p] of params) {
        const ours = p.dataSync();
        c.params[s][k].forEach((x, i) => {
          const d = Math.abs(ours[i] - x);
          worst = Math.max(worst, d);
          assert.ok(d <= 2e-6, `${c.name} step ${s + 1} ${k}[${i}]: ${ours[i]} vs torch ${fx.torch} ${x}`);
        });
      }
      assert.equal(tf.memory().numTensors, before + 2 * params.size, `${c.name}: only the moments m and v are added, and stay flat across steps`);
    });
    console.log(`# ${c.name}: max abs diff to torch ${fx.torch} over ${fx.grads.length} steps: ${worst.toExponential(2)}`);
    opt.dispose();
    for (const p of params.values()) p.dispose();
  }
});

test('optimizer state round-trips: resuming from a saved state gives identical parameters', async () => {
  const opts = { decoupled: true, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01 };
  const p = tf.tidy(() => tf.variable(tf.tensor1d([1, -2])));
  const params = new Map([['w', p]]);
  const a = new AdamOptimizer(opts);
  const g0 = tf.tensor1d(GRADS[0]);
  a.apply(params, new Map([['w', g0]]), 0.1);
  const state = await a.getState();
  const saved = Float32Array.from(p.dataSync());
  const b = new AdamOptimizer(opts);
  b.setState(state, params);
  assert.equal(b.stepCount, 1);
  const g1 = tf.tensor1d(GRADS[1]);
  a.apply(params, new Map([['w', g1]]), 0.1);
  const viaA = Float32Array.from(p.dataSync());
  p.assign(tf.tensor1d(saved));
  b.apply(params, new Map([['w', g1]]), 0.1);
  assert.deepEqual(Array.from(p.dataSync()), Array.from(viaA));
  for (const t of [g0, g1, p]) t.dispose();
  a.dispose();
  b.dispose();
});

test('setState rejects a state that does not fit the model', () => {
  const p = tf.tidy(() => tf.variable(tf.tensor1d([1, 2, 3])));
  const opt = new AdamOptimizer({ decoupled: true, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
  assert.throws(() => opt.setState({ step: 1, moments: new Map([['w', { m: new Float32Array(2), v: new Float32Array(2) }]]) }, new Map([['w', p]])), /has 2 values/);
  assert.throws(() => opt.setState({ step: 1, moments: new Map([['x', { m: new Float32Array(3), v: new Float32Array(3) }]]) }, new Map([['w', p]])), /does not have/);
  p.dispose();
});

test('schedules follow transformers get_*_schedule_with_warmup (total 10, warmup 2)', () => {
  const factors = (name: 'constant' | 'linear' | 'cosine') => Array.from({ length: 11 }, (_, s) => makeSchedule(name, 2, 2, 10).lrAt(s) / 2);
  const ref = {
    linear: [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0],
    cosine: [0, 0.5, 1, 0.96194, 0.853553, 0.691342, 0.5, 0.308658, 0.146447, 0.03806, 0],
    constant: [0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1],
  };
  for (const name of ['constant', 'linear', 'cosine'] as const) {
    factors(name).forEach((f, i) => assert.ok(Math.abs(f - ref[name][i]) < 1e-6, `${name} step ${i}: ${f} vs ${ref[name][i]}`));
  }
  assert.equal(makeSchedule('constant', 0.1, 0, 5).lrAt(0), 0.1, 'no warmup: the first update uses the full lr');
  assert.equal(warmupFromRatio(0.1, 95), 10, 'ratio rounds up like transformers');
});

test('global-norm clipping matches torch.nn.utils.clip_grad_norm_', () => {
  const grads = new Map<string, tf.Tensor>([
    ['a', tf.tensor1d([3, 4])],
    ['b', tf.tensor1d([12])],
  ]);
  const before = tf.memory().numTensors;
  const read = (t: tf.Scalar) => {
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  };
  assert.ok(Math.abs(read(globalNorm(grads)) - 13) < 1e-5);
  const { grads: c, norm } = clipByGlobalNorm(grads, 6.5);
  assert.ok(Math.abs(read(norm) - 13) < 1e-5);
  const coef = 6.5 / (13 + 1e-6);
  assert.ok(Math.abs(c.get('a')!.dataSync()[0] - 3 * coef) < 1e-6);
  assert.ok(Math.abs(c.get('b')!.dataSync()[0] - 12 * coef) < 1e-5);
  const { grads: same, norm: n2 } = clipByGlobalNorm(grads, 100);
  n2.dispose();
  assert.deepEqual(Array.from(same.get('a')!.dataSync()), [3, 4], 'below the limit nothing changes');
  const { grads: pv, norm: n3 } = clipPerVariable(grads, 5);
  assert.ok(Math.abs(read(n3) - 13) < 1e-5, 'per variable reports the global norm before clipping');
  assert.deepEqual(Array.from(pv.get('a')!.dataSync()), [3, 4], 'per variable: a has norm 5, unchanged');
  assert.ok(Math.abs(pv.get('b')!.dataSync()[0] - 5) < 1e-5, 'per variable: b rescaled to norm 5');
  for (const m of [c, same, pv]) for (const t of m.values()) t.dispose();
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
  for (const t of grads.values()) t.dispose();
});

test('weight decay skips biases and LayerNorm weights in every architecture, as the transformers Trainer', () => {
  const small = { vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 8 };
  const configs = {
    bert: { model_type: 'bert', ...small },
    distilbert: { model_type: 'distilbert', vocab_size: 10, dim: 8, n_layers: 1, n_heads: 2, hidden_dim: 16, max_position_embeddings: 8 },
    'xlm-roberta': { model_type: 'xlm-roberta', ...small },
    mpnet: { model_type: 'mpnet', ...small, relative_attention_num_buckets: 4 },
  };
  for (const [arch, raw] of Object.entries(configs)) {
    const names = paramSpecs(parseConfig(raw, 'config.json')).map((p) => p.name);
    const kept = names.filter((n) => !decaysByDefault(n));
    // The LayerNorm modules of each architecture, weight and bias, and every bias.
    const norms = names.filter((n) => /(LayerNorm|layer_norm)\.(weight|bias)$/.test(n));
    assert.ok(norms.length >= 4, `${arch}: found LayerNorm parameters ${norms}`);
    for (const n of norms) assert.ok(kept.includes(n), `${arch}: ${n} must not decay`);
    for (const n of names.filter((x) => x.endsWith('.bias'))) assert.ok(kept.includes(n), `${arch}: ${n} must not decay`);
    for (const n of names.filter((x) => /(query|key|value|q_lin|k_lin|v_lin|dense|lin1|lin2|word_embeddings)\.weight$/.test(x))) {
      assert.ok(!kept.includes(n), `${arch}: ${n} must decay`);
    }
  }
  assert.equal(decaysByDefault('encoder.relative_attention_bias.weight'), false, 'its name contains "bias", as the Trainer matches');
  assert.equal(decaysByDefault('dense.0.linear.weight'), true);
  assert.equal(decaysByDefault('dense.0.linear.bias'), false);
});

test('AdamW leaves a variable out of weight decay when `decays` says so', () => {
  const run = (decays?: (n: string) => boolean) => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const b = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamOptimizer({ decoupled: true, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, decays });
    const g = tf.tensor1d([0.5, -0.3]);
    opt.apply(new Map([['w', w], ['x.bias', b]]), new Map([['w', g], ['x.bias', g]]), 0.1);
    const out = { w: Array.from(w.dataSync()), b: Array.from(b.dataSync()) };
    tf.dispose([w, b, g]);
    opt.dispose();
    return out;
  };
  const all = run();
  const some = run(decaysByDefault);
  assert.deepEqual(some.w, all.w, 'a weight decays either way');
  assert.deepEqual(all.w, all.b, 'without a filter both decay alike');
  const noDecay = run(() => false);
  assert.deepEqual(some.b, noDecay.b, 'the bias is updated as with weight decay 0');
  assert.notDeepEqual(some.b, all.b);
});
