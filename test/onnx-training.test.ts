/**
 * The `onnx` training engine (src/engine/onnx/training.ts): the backward graph against finite
 * differences of the forward graph, per-weight gradients against tfjs autodiff (the wasm path)
 * on every architecture, pooling mode, Dense and Normalize, the host AdamW against
 * src/training/optimizer.ts bit for bit, 16 training steps of every loss on onnx against tfjs,
 * and a run killed with SIGKILL then resumed, bit-identical at a fixed thread count.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder, type SentenceEncoder } from '../src/models/index.js';
import { HostAdamW } from '../src/engine/adamw.js';
import { encoderSpec, encoderWeights } from '../src/engine/onnx/encoder.js';
import { OnnxTrainingEngine } from '../src/engine/onnx/training.js';
import { AdamOptimizer, decaysByDefault } from '../src/training/optimizer.js';
import { train } from '../src/training/index.js';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { LOSS_NAMES } from '../src/recipe/schema.js';
import { makeModelFolder, type TestArch } from './helpers/models.js';
import { ROOT } from './helpers/cli.js';
import { trainRecipe, writeTrainData } from './helpers/onnx-train-fixtures.js';
import { values } from './helpers/values.js';
import { relativeErrors } from './helpers/grads.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-train-'));
const TEXTS = ['hello world, a test', 'short', 'the quick brown fox jumps over the lazy dog', 'a man plays a guitar'];

before(async () => {
  await initBackend('wasm', { quiet: true });
});

/** tfjs gradients of sum(embeddings * r) by weight name. */
function tfjsGrads(enc: SentenceEncoder, texts: string[], r: Float32Array): Map<string, Float32Array> {
  const batch = enc.tokenize(texts);
  const names = new Map([...enc.namedWeights()].map(([n, v]) => [v.name, n]));
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(enc.forward(batch), tf.tensor2d(r, [texts.length, enc.dim]))) as tf.Scalar, enc.trainableVariables());
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) {
    out.set(names.get(k)!, g.dataSync() as Float32Array);
    g.dispose();
  }
  value.dispose();
  return out;
}

async function onnxGrads(engine: OnnxTrainingEngine, enc: SentenceEncoder, texts: string[], r: Float32Array): Promise<Map<string, Float32Array>> {
  const { saved } = await engine.forward(enc.tokenize(texts));
  return engine.backward(saved, r);
}

/**
 * Worst per-weight max|a - b| / max|a|. A gradient that is zero in exact arithmetic (the key
 * bias: softmax ignores a constant added to a row) is rounding noise on both sides, so the
 * scale has a floor of 1e-3 of the largest gradient.
 */
function compareGrads(ref: Map<string, Float32Array>, got: Map<string, Float32Array>): { worst: number; name: string } {
  let worst = 0;
  let worstName = '';
  for (const [name, e] of relativeErrors(ref, got, 'onnx')) if (e > worst) [worst, worstName] = [e, name];
  return { worst, name: worstName };
}

const CASES: { label: string; arch?: TestArch; pooling?: Record<string, boolean>; dense?: { out: number; activation: string }; normalize?: boolean }[] = [
  { label: 'bert, mean' },
  { label: 'distilbert, cls + max, Dense tanh, Normalize', arch: 'distilbert', pooling: { pooling_mode_cls_token: true, pooling_mode_max_tokens: true }, dense: { out: 12, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true },
  { label: 'roberta, mean_sqrt_len + weightedmean', arch: 'roberta', pooling: { pooling_mode_mean_sqrt_len_tokens: true, pooling_mode_weightedmean_tokens: true } },
  { label: 'xlm-roberta, lasttoken, Dense identity', arch: 'xlm-roberta', pooling: { pooling_mode_lasttoken: true }, dense: { out: 8, activation: 'torch.nn.modules.linear.Identity' } },
  { label: 'mpnet (relative position bias), mean, Normalize', arch: 'mpnet', normalize: true },
];

for (const c of CASES) {
  test(`gradients: onnx backward = tfjs autodiff within 1e-4 relative, every weight (${c.label})`, async () => {
    const dir = join(tmp, `model-${c.label.replace(/\W+/g, '-')}`);
    if (c.arch) makeModelFolder(dir, { arch: c.arch, pooling: c.pooling, dense: c.dense, normalize: c.normalize });
    const enc = await loadEncoder(c.arch ? dir : 'builtin:tiny', { seed: 3 });
    const engine = await OnnxTrainingEngine.create(encoderSpec(enc), await encoderWeights(enc), null, { threads: 1 });
    const r = values(TEXTS.length * enc.dim, 7);
    const ref = tfjsGrads(enc, TEXTS, r);
    const got = await onnxGrads(engine, enc, TEXTS, r);
    const { worst, name } = compareGrads(ref, got);
    process.stdout.write(`# ${c.label}: ${ref.size} gradients, worst relative diff ${worst.toExponential(2)} (${name})\n`);
    assert.ok(worst <= 1e-4, `${name}: ${worst}`);
    // The check can fail: one weight's gradient off by 0.1% is caught.
    const broken = new Map(got);
    broken.set('embeddings.LayerNorm.weight', got.get('embeddings.LayerNorm.weight')!.map((x) => x * 1.001));
    assert.ok(compareGrads(ref, broken).worst > 1e-4);
    await engine.release();
    enc.dispose();
  });
}

test('finite differences: the onnx backward matches (L(w + h) - L(w - h)) / 2h of the onnx forward, a few weights of every kind (builtin:tiny)', async () => {
  const enc = await loadEncoder('builtin:tiny', { seed: 5 });
  const engine = await OnnxTrainingEngine.create(encoderSpec(enc), await encoderWeights(enc), null, { threads: 1 });
  const batch = enc.tokenize(TEXTS);
  const r = values(TEXTS.length * enc.dim, 11);
  const { saved } = await engine.forward(batch);
  const grads = await engine.backward(saved, r);
  // L = sum(embeddings * r), accumulated in float64 from the float32 forward.
  const lossAt = async (): Promise<number> => {
    const { embeddings } = await engine.forward(batch);
    let s = 0;
    for (let i = 0; i < r.length; i++) s += embeddings[i] * r[i];
    return s;
  };
  const kinds = ['embeddings.word_embeddings.weight', 'embeddings.position_embeddings.weight', 'embeddings.token_type_embeddings.weight', 'embeddings.LayerNorm.weight', 'embeddings.LayerNorm.bias'];
  for (const part of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'attention.output.LayerNorm', 'intermediate.dense', 'output.dense', 'output.LayerNorm']) {
    for (const layer of [0, 1]) for (const p of ['weight', 'bias']) if (!(part === 'attention.self.key' && p === 'bias')) kinds.push(`encoder.layer.${layer}.${part}.${p}`);
  }
  const held = engine.weights();
  const h = 1e-2;
  let checked = 0;
  let worst = 0;
  for (const name of kinds) {
    const g = grads.get(name)!;
    const w = held.get(name)!.data;
    // the 3 entries with the largest gradient (a zero gradient says little)
    const idx = [...g.keys()].sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 3);
    for (const i of idx) {
      const w0 = w[i];
      w[i] = w0 + h;
      const up = await lossAt();
      w[i] = w0 - h;
      const down = await lossAt();
      w[i] = w0;
      const fd = (up - down) / (2 * h);
      const err = Math.abs(fd - g[i]) / Math.max(Math.abs(g[i]), 1e-2);
      worst = Math.max(worst, err);
      assert.ok(err < 2e-2, `${name}[${i}]: backward ${g[i]}, finite difference ${fd}`);
      checked++;
    }
  }
  process.stdout.write(`# finite differences: ${checked} entries of ${kinds.length} weights, worst relative error ${worst.toExponential(2)}\n`);
  await engine.release();
  enc.dispose();
});

test('host AdamW (SIMD kernel and JS loop) = src/training/optimizer.ts bit for bit (AdamW and Adam, weight decay rule, chunk edges, 5 steps)', async () => {
  for (const decoupled of [true, false]) {
    const opts = { decoupled, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01, decays: decaysByDefault };
    const shapes: [string, number[]][] = [
      ['encoder.layer.0.output.dense.weight', [7, 5]],
      ['encoder.layer.0.output.dense.bias', [5]],
      ['embeddings.LayerNorm.weight', [5]],
      ['embeddings.word_embeddings.weight', [300001]], // past one staging chunk of the kernel, not a multiple of 4
    ];
    const start = shapes.map(([, s], i) => values(s.reduce((a, b) => a * b, 1), 100 + i));
    const hosts = [new HostAdamW(opts), new HostAdamW(opts, { simd: false })];
    assert.deepEqual(hosts.map((h) => h.kernel), [decoupled ? 'simd' : 'js', 'js']);
    const held = hosts.map(() => new Map(shapes.map(([n], i) => [n, start[i].slice()])));
    const vars = new Map(shapes.map(([n, s], i) => [n, tf.variable(tf.tensor(start[i], s), true)]));
    const ref = new AdamOptimizer(opts);
    for (let step = 0; step < 5; step++) {
      // gradients over many magnitudes, down to float32 subnormals
      const g = new Map(shapes.map(([n, s], i) => [n, values(s.reduce((a, b) => a * b, 1), 200 + 10 * step + i).map((x, j) => x * 10 ** (i - step - (j % 5 === 0 ? 38 : 0)))]));
      const gt = new Map([...g].map(([n, v]) => [n, tf.tensor(v, vars.get(n)!.shape)]));
      ref.apply(vars, gt, 1e-3 * (step + 1));
      hosts.forEach((h, k) => h.apply(held[k], g, 1e-3 * (step + 1)));
      for (const t of gt.values()) t.dispose();
    }
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const refState = await ref.getState();
    for (const [k, h] of hosts.entries()) {
      for (const [n, v] of vars) assert.ok(bytes(v.dataSync() as Float32Array).equals(bytes(held[k].get(n)!)), `${decoupled ? 'adamw' : 'adam'} ${h.kernel}: ${n}`);
      const st = await h.getState();
      assert.equal(st.step, refState.step);
      for (const [n, m] of refState.moments) assert.ok(bytes(st.moments.get(n)!.m).equals(bytes(m.m)) && bytes(st.moments.get(n)!.v).equals(bytes(m.v)), `${h.kernel} moments of ${n}`);
      // a state put back gives the same next step
      const again = new HostAdamW(opts);
      again.setState(st, new Map(shapes.map(([n, s]) => [n, { size: s.reduce((a, b) => a * b, 1) }])));
      assert.ok(bytes((await again.getState()).moments.get(shapes[3][0])!.v).equals(bytes(st.moments.get(shapes[3][0])!.v)));
    }
    ref.dispose();
    for (const v of vars.values()) v.dispose();
  }
});

// ---- training runs ----

const writeData = (): string => writeTrainData(tmp);
const rawRecipe = (loss: string, file: string, training: Record<string, unknown> = {}, optimizer: Record<string, unknown> = {}) => trainRecipe(tmp, loss, file, training, optimizer);

const recipeFor = (loss: string, file: string): Recipe => parseRecipe(rawRecipe(loss, file), { baseDir: tmp });

test('16 training steps of every loss: onnx per-step loss = tfjs within 1e-4 relative (same recipe, same batches)', async () => {
  const file = writeData();
  const quiet = { log: () => {}, progress: false, skipSave: true };
  for (const loss of LOSS_NAMES) {
    const a = await train(recipeFor(loss, file), quiet);
    const tensors = tf.memory().numTensors;
    const b = await train(recipeFor(loss, file), { ...quiet, engine: 'onnx', threads: 1 });
    assert.equal(tf.memory().numTensors, tensors, `${loss}: no tensors leaked by the onnx run`);
    assert.equal(a.steps, 16, loss);
    assert.equal(b.steps, 16, loss);
    const rel = a.losses.map((x, i) => Math.abs(x - b.losses[i]) / Math.max(Math.abs(x), 1e-6));
    const worst = Math.max(...rel);
    process.stdout.write(`# ${loss}: worst per-step relative loss diff over 16 steps ${worst.toExponential(2)} (loss ${a.losses[0].toFixed(4)} -> ${a.losses[15].toFixed(4)})\n`);
    assert.ok(worst <= 1e-4, `${loss}: ${rel.map((x) => x.toExponential(1)).join(' ')}`);
    assert.notEqual(a.losses[15], a.losses[0], `${loss}: training moved`);
  }
});

test('onnx = tfjs with gradient accumulation, per-variable clipping, Adam (L2) and frozen layers; frozen weights stay put', async () => {
  const file = writeData();
  const quiet = { log: () => {}, progress: false };
  const raw = rawRecipe('cosine_mse', file, { grad_accum_steps: 2, max_steps: 6, freeze: { embeddings: true, layers: 1 } }, { name: 'adam', clip_grad_norm: 0.05, clip_scope: 'per_variable' });
  const a = await train(parseRecipe({ ...raw, output: { dir: mkdtempSync(join(tmp, 'run-acc-')) } }, { baseDir: tmp }), quiet);
  const b = await train(parseRecipe(raw, { baseDir: tmp }), { ...quiet, engine: 'onnx', threads: 1 });
  assert.equal(b.steps, 6);
  const worst = Math.max(...a.losses.map((x, i) => Math.abs(x - b.losses[i]) / Math.abs(x)));
  assert.ok(worst <= 1e-4, `${a.losses} vs ${b.losses}`);
  const start = await loadEncoder('builtin:tiny', { seed: 13 });
  const tuned = await loadEncoder(b.modelDir!);
  const s0 = start.namedWeights();
  const t0 = tuned.namedWeights();
  const same = (n: string) => Buffer.compare(Buffer.from(s0.get(n)!.dataSync().buffer), Buffer.from(t0.get(n)!.dataSync().buffer)) === 0;
  for (const n of s0.keys()) if (n.startsWith('embeddings.') || n.includes('layer.0.')) assert.ok(same(n), `${n} is frozen`);
  assert.ok(!same('encoder.layer.1.output.dense.weight'), 'layer 1 trains');
  start.dispose();
  tuned.dispose();
});

/** Run a training child (scripted below) and resolve when it exits. */
function child(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'onnx-train-child.ts'), ...args], { cwd: ROOT });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) if (line) onLine?.(line, () => p.kill('SIGKILL'));
    });
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

test('kill -9 in the middle of an onnx run, then --resume: the same weights bit for bit as an uninterrupted run (1 thread)', async () => {
  const file = writeData();
  const full = rawRecipe('cosine_mse', file, { checkpoint_every: 2, max_steps: 10 });
  const cut = rawRecipe('cosine_mse', file, { checkpoint_every: 2, max_steps: 10 });
  const spec = (r: Record<string, unknown>) => JSON.stringify({ recipe: r, baseDir: tmp });
  const cutDir = (cut.output as { dir: string }).dir;
  const a = await child([spec(full)]);
  assert.equal(a.code, 0, a.out);
  const hashA = /weights (\w+)/.exec(a.out)![1];
  let killedAt = 0;
  const b = await child([spec(cut), 'slow'], (line, kill) => {
    const m = /^step (\d+)/.exec(line);
    if (m && Number(m[1]) === 5 && !killedAt) {
      killedAt = 5;
      kill();
    }
  });
  assert.equal(b.signal, 'SIGKILL', b.out);
  assert.ok(existsSync(join(cutDir, 'checkpoints')) && readdirSync(join(cutDir, 'checkpoints')).length > 0, 'checkpoints were written before the kill');
  const c = await child([spec(cut), 'resume']);
  assert.equal(c.code, 0, c.out);
  assert.match(c.out, /resuming from .*step 4 of 10/);
  const hashC = /weights (\w+)/.exec(c.out)![1];
  assert.equal(hashC, hashA, 'resumed run = uninterrupted run');
});
