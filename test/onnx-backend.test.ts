/**
 * The `onnx` inference backend (src/engine/onnx/inference.ts, chosen in src/backend/index.ts):
 * the Python-made st-bert-mean fixture, a session that follows the weights (training steps,
 * snapshot restores, added modules) and is built once otherwise, the --backend / --threads
 * options and their one-line errors, a machine without onnxruntime-node, and a training run
 * whose evaluations run on onnx while its steps run on wasm.
 *
 * Every architecture and pooling mode on onnx against wasm: test/onnx-parity.test.ts.
 * The encode / eval / heatmap CLI tests run on each of test/helpers/backends.ts's backends.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { configureBackend, currentBackend, initBackend, physicalCores, tfjsBackend } from '../src/backend/index.js';
import { inferenceEngine } from '../src/engine/index.js';
import type { OnnxInferenceEngine } from '../src/engine/onnx/inference.js';
import { builtinEncoder, loadEncoder, type SentenceEncoder } from '../src/models/index.js';
import { AdamOptimizer } from '../src/training/optimizer.js';
import { restore, snapshot } from '../src/training/weights.js';
import { ROOT, SHARED, isOneLineUserError, runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-backend-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const TOL = 1e-4;
const TEXTS = ['a nurse cares for patients', 'software developer', '', 'Grüße aus Köln, 東京 🚀', 'the cat sat on the mat and looked at the dog'];

before(async () => {
  configureBackend({});
  await initBackend('onnx', { quiet: true });
});

const engine = () => inferenceEngine() as OnnxInferenceEngine;

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** The tfjs forward pass of the encoder's current weights, one row per text. */
function tfjsRows(enc: SentenceEncoder, texts: string[]): Float32Array[] {
  const batch = enc.tokenize(texts);
  const emb = tf.tidy(() => enc.forward(batch));
  const data = emb.dataSync() as Float32Array;
  emb.dispose();
  return texts.map((_, i) => data.slice(i * enc.dim, (i + 1) * enc.dim));
}

const worstRow = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((row, i) => maxAbsDiff(row, b[i])));

test('initBackend("onnx"): inference on onnxruntime-node, tfjs (wasm here) underneath, threads = physical cores', () => {
  assert.equal(currentBackend(), 'onnx');
  assert.equal(tfjsBackend(), 'wasm');
  assert.equal(engine().name, 'onnx');
  assert.equal(engine().options.threads, physicalCores());
});

test('physical cores: unique (physical id, core id) pairs of /proc/cpuinfo, at most the usable CPUs', () => {
  const cpu = (p: number, c: number) => `processor\t: x\nphysical id\t: ${p}\ncore id\t\t: ${c}\nflags\t\t: fpu\n`;
  // 2 sockets x 2 cores x 2 hyper-threads = 8 logical CPUs, 4 cores
  const ht = [cpu(0, 0), cpu(0, 1), cpu(1, 0), cpu(1, 1), cpu(0, 0), cpu(0, 1), cpu(1, 0), cpu(1, 1)].join('\n');
  assert.equal(physicalCores(ht), Math.min(4, os.availableParallelism()));
  assert.equal(physicalCores('processor\t: 0\nBogoMIPS\t: 50\n\nprocessor\t: 1\nBogoMIPS\t: 50\n'), os.availableParallelism(), 'no core ids (ARM): every usable CPU');
  assert.ok(physicalCores() >= 1);
});

test('the st-bert-mean fixture (saved by Python sentence-transformers) on --backend onnx reproduces expected.json', async (t) => {
  if (!SHARED) return t.skip('../shared absent: no st-bert-mean fixture');
  const fixture = join(SHARED, 'fixtures', 'st-bert-mean');
  const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { sentences: string[]; embeddings: number[][] };
  const enc = await loadEncoder(join(fixture, 'model'));
  const rows = await enc.encode(expected.sentences, { batchSize: 8 });
  const d = Math.max(...rows.map((row, i) => maxAbsDiff(row, expected.embeddings[i])));
  process.stdout.write(`# st-bert-mean on onnx vs Python (${rows.length} sentences): max abs diff ${d.toExponential(2)}\n`);
  assert.ok(d <= TOL, `differs from expected.json by ${d}`);
  enc.dispose();
});

test('one session per encoder, built once for every batch shape; none of it leaks tfjs tensors', async () => {
  const enc = builtinEncoder('tiny', 3);
  const before = tf.memory().numTensors;
  const builds = engine().builds;
  const a = await enc.encode(TEXTS, { batchSize: 2 });
  const b = await enc.encode(TEXTS.slice(0, 2), { batchSize: 1 });
  assert.equal(engine().builds, builds + 1, 'three batch shapes, one session');
  assert.ok(worstRow(a, tfjsRows(enc, TEXTS)) <= TOL);
  assert.ok(maxAbsDiff(a[0], b[0]) <= 1e-5);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  const normalized = await enc.encode(TEXTS, { normalize: true });
  for (const row of normalized) assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5);
  enc.dispose();
});

test('after a training step, a snapshot restore or a changed module, encode() runs the new weights (the session is rebuilt)', async () => {
  const enc = builtinEncoder('tiny', 4);
  const vars = enc.namedWeights();
  const saved = await snapshot(vars);
  const original = await enc.encode(TEXTS);
  let builds = engine().builds;

  // one AdamW step on a loss that moves every embedding
  const opt = new AdamOptimizer({ decoupled: true, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  const batch = enc.tokenize(TEXTS);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(enc.forward(batch))) as tf.Scalar, enc.trainableVariables());
  const byName = new Map([...vars].map(([name, v]) => [name, grads[v.name]]));
  opt.apply(vars, byName, 1e-2);
  tf.dispose([value, ...Object.values(grads)]);
  const trained = await enc.encode(TEXTS);
  assert.equal(engine().builds, ++builds, 'rebuilt after the step');
  assert.ok(worstRow(trained, original) > 1e-3, 'the step changed the embeddings (else this test could not fail)');
  const dTrained = worstRow(trained, tfjsRows(enc, TEXTS));
  assert.ok(dTrained <= TOL, `encode() after a training step differs from tfjs forward by ${dTrained}`);
  await enc.encode(TEXTS);
  assert.equal(engine().builds, builds, 'not rebuilt while the weights stay');

  restore(vars, saved);
  const restored = await enc.encode(TEXTS);
  assert.equal(engine().builds, ++builds, 'rebuilt after the restore');
  assert.ok(worstRow(restored, original) <= 1e-6, 'the restored weights give the original embeddings');

  enc.addDense(8, 'tanh', 1);
  const dense = await enc.encode(TEXTS);
  assert.equal(engine().builds, ++builds, 'rebuilt after addDense');
  assert.equal(dense[0].length, 8);
  assert.ok(worstRow(dense, tfjsRows(enc, TEXTS)) <= TOL);
  enc.setPooling(['cls']);
  assert.ok(worstRow(await enc.encode(TEXTS), tfjsRows(enc, TEXTS)) <= TOL, 'after setPooling');
  assert.equal(engine().builds, ++builds);
  enc.dispose();
});

test('CLI: --backend onnx names onnxruntime, the threads and the tfjs backend in one line; --threads sets the threads', () => {
  const input = join(tmp, 'texts.txt');
  writeFileSync(input, TEXTS.join('\n') + '\n');
  const r = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'a.npy'), '--backend', 'onnx', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^backend: onnx \(onnxruntime-node \d+\.\d+\.\d+, 1 thread; training on wasm\)$/m);
  assert.equal(r.stderr.match(/^backend:/gm)?.length, 1, 'printed once');
  const auto = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'b.npy')]);
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stderr, new RegExp(`^backend: onnx \\(onnxruntime-node [^,]+, ${physicalCores()} threads?; training on wasm\\)$`, 'm'), 'auto prefers onnx');
  assert.deepEqual(readFileSync(join(tmp, 'a.npy')).subarray(0, 128), readFileSync(join(tmp, 'b.npy')).subarray(0, 128), 'same header');
});

test('CLI: --threads must be a whole number >= 1 (one line, exit 2)', () => {
  for (const bad of ['0', '-2', '1.5', 'two', '']) {
    const r = runCli(['encode', '--model', 'builtin:tiny', '--input', join(tmp, 'x.txt'), '--output', join(tmp, 'x.npy'), '--backend', 'onnx', '--threads', bad]);
    assert.ok(isOneLineUserError(r), `--threads '${bad}': ${r.code} ${r.stderr}`);
    assert.match(r.stderr, /^sbert-train: --threads must be a whole number/m, bad);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for '${bad}'`);
  }
});

test('without a loadable onnxruntime-node: --backend onnx is one line, exit 2; auto falls back to wasm and says why', () => {
  const input = join(tmp, 'texts2.txt');
  writeFileSync(input, 'one\ntwo\n');
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(join(ROOT, 'test', 'helpers', 'no-onnxruntime.mjs')).href}`.trim() };
  const onnx = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'c.npy'), '--backend', 'onnx'], { env });
  assert.ok(isOneLineUserError(onnx), `${onnx.code} ${onnx.stderr}`);
  assert.match(onnx.stderr, /^sbert-train: backend 'onnx' needs onnxruntime-node, which did not load \(Cannot find package 'onnxruntime-node'.*--backend wasm$/m);
  const auto = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'c.npy')], { env });
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stderr, /^backend: wasm \(onnxruntime-node did not load: Cannot find package/m);
  const wasm = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'd.npy'), '--backend', 'wasm'], { env });
  assert.equal(wasm.code, 0, wasm.stderr);
  assert.match(wasm.stderr, /^backend: wasm$/m, 'other backends never load it');
});

test('training with --backend onnx runs on the onnx training engine: the same weights as --backend wasm to 1e-5, the same metrics to 1e-4', async () => {
  const pairs = join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv');
  const run = (backend: string) => {
    const dir = join(tmp, `train-${backend}`);
    const file = join(tmp, `train-${backend}.yaml`);
    writeFileSync(
      file,
      [
        'model: { base: "builtin:tiny", max_seq_length: 16 }',
        `data: { train: "${pairs}", dev: "${pairs}", score_scale: [0, 5] }`,
        'training: { batch_size: 4, epochs: 1, seed: 7 }',
        'evaluation: { every_steps: 1, keep_best: false }',
        `output: { dir: "${dir}" }`,
      ].join('\n'),
    );
    const r = runCli([file, '--backend', backend], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${backend}: ${r.stderr}`);
    const evals = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((m) => Object.keys(m).some((k) => k.includes('spearman')));
    return { stderr: r.stderr, evals, model: join(dir, 'model') };
  };
  const onnx = run('onnx');
  const wasm = run('wasm');
  assert.match(onnx.stderr, /^backend: onnx \(onnxruntime-node .*; training on onnx\)$/m);
  assert.match(wasm.stderr, /^backend: wasm$/m);
  const [a, b] = [await loadEncoder(onnx.model), await loadEncoder(wasm.model)];
  const wa = a.namedWeights();
  const wb = b.namedWeights();
  let worst = 0;
  let moved = 0;
  const start = builtinEncoder('tiny', 7).namedWeights(); // the recipe's seed initialises builtin:tiny
  for (const [name, v] of wa) {
    const x = v.dataSync();
    const y = wb.get(name)!.dataSync();
    const s0 = start.get(name)?.dataSync();
    for (let i = 0; i < x.length; i++) {
      worst = Math.max(worst, Math.abs(x[i] - y[i]));
      if (s0 && x[i] !== s0[i]) moved++;
    }
  }
  a.dispose();
  b.dispose();
  assert.ok(moved > 0, 'training changed the weights');
  assert.ok(worst <= 1e-5, `weights after training: onnx vs wasm max abs diff ${worst}`);
  assert.ok(onnx.evals.length >= 2, `evaluations logged: ${onnx.evals.length}`);
  assert.equal(onnx.evals.length, wasm.evals.length);
  let compared = 0;
  onnx.evals.forEach((m, i) => {
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'number' || !/cosine|euclidean|manhattan|dot/.test(k)) continue;
      const w = wasm.evals[i][k] as number;
      assert.ok(Math.abs(v - w) <= 1e-4, `eval ${i} ${k}: onnx ${v}, wasm ${w}`);
      compared++;
    }
  });
  assert.ok(compared >= 2 * onnx.evals.length, `compared ${compared} metrics`);
});
