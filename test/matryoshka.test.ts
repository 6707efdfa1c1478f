/**
 * Matryoshka embeddings: the loss is the weighted sum of the inner loss on each truncated,
 * re-normalised prefix (checked against plain loops on fixed embeddings), truncation keeps a
 * unit-length prefix, `encode --dim` writes it, the STS evaluator reports every dim, and a
 * short training run's metrics, report and model card carry the per-dim table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, UserError } from '../src/errors.js';
import { runEncode } from '../src/cli/encode.js';
import { cachedVariableGrads } from '../src/training/cached-step.js';
import { initBackend } from '../src/backend/index.js';
import { createLoss, createMatryoshkaLoss } from '../src/losses/index.js';
import { truncateRows } from '../src/models/prompts.js';
import { loadEncoder } from '../src/models/index.js';
import { evaluateSts, perDimMetrics, stsMetrics } from '../src/evaluation/index.js';
import { perDimMarkdown } from '../src/evaluation/per-dim.js';
import { parseRecipe } from '../src/recipe/index.js';
import { train } from '../src/training/index.js';
import { readNpy } from '../src/util/npy.js';
import { ROOT, isOneLineUserError, runCli } from './helpers/cli.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';

const tmp = mkdtempSync(join(tmpdir(), 'matryoshka-test-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.before(async () => {
  await initBackend('wasm', { quiet: true }); // registers the gradients too
});
const FIX = join(ROOT, 'test', 'fixtures', 'recipes');

// Fixed embeddings: 3 pairs of 4-dimensional rows, not unit length.
const U = [
  [0.5, -1.0, 2.0, 0.3],
  [1.5, 0.2, -0.4, 1.1],
  [-0.7, 0.9, 0.6, -2.0],
];
const V = [
  [0.4, -0.8, -1.0, 0.9],
  [1.0, 0.5, 0.3, -0.2],
  [-0.2, 1.4, -0.5, 0.7],
];
const N = [
  [2.0, 0.1, 0.0, -0.3],
  [-1.0, -1.0, 0.5, 0.5],
  [0.3, 0.3, 0.3, 0.3],
];
const LABELS = [0.9, 0.2, 0.6];

function unitPrefix(row: number[], d: number): number[] {
  const p = row.slice(0, d);
  const n = Math.max(Math.sqrt(p.reduce((s, x) => s + x * x, 0)), 1e-12);
  return p.map((x) => x / n);
}
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const dist = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i] + 1e-6) ** 2, 0));

/** cosine_mse by hand: mean over pairs of (cos - label)^2, prefixes re-normalised. */
function cosineMse(d: number): number {
  let s = 0;
  for (let i = 0; i < U.length; i++) s += (dot(unitPrefix(U[i], d), unitPrefix(V[i], d)) - LABELS[i]) ** 2;
  return s / U.length;
}

/** multiple_negatives_ranking by hand: cross-entropy of scale * cos(anchor_i, positive_j) with the diagonal as target. */
function mnrl(d: number, scale = 20): number {
  let s = 0;
  for (let i = 0; i < U.length; i++) {
    const logits = V.map((v) => scale * dot(unitPrefix(U[i], d), unitPrefix(v, d)));
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, l) => a + Math.exp(l - max), 0));
    s += lse - logits[i];
  }
  return s / U.length;
}

/** triplet by hand (euclidean, margin 5) on the re-normalised prefixes: here the re-normalisation changes the value. */
function triplet(d: number, margin = 5): number {
  let s = 0;
  for (let i = 0; i < U.length; i++) {
    const a = unitPrefix(U[i], d);
    s += Math.max(0, dist(a, unitPrefix(V[i], d)) - dist(a, unitPrefix(N[i], d)) + margin);
  }
  return s / U.length;
}

async function value(loss: ReturnType<typeof createLoss>, columns: number[][][], labels: number[] | null): Promise<number> {
  const embs = columns.map((c) => tf.tensor2d(c));
  const lab = labels ? tf.tensor1d(labels) : null;
  const before = tf.memory().numTensors;
  const out = loss.lossFromEmbeddings(embs as tf.Tensor2D[], lab as tf.Tensor1D | null);
  assert.equal(tf.memory().numTensors, before + 1, 'only the result survives');
  const v = (await out.data())[0];
  tf.dispose([out, ...embs, ...(lab ? [lab] : [])]);
  return v;
}

test('the Matryoshka loss is the weighted sum of the inner loss on each re-normalised prefix (hand-computed)', async () => {
  const dims = [4, 2, 3];
  const weights = [1, 0.5, 2];
  const cases: Array<[string, Record<string, unknown>, number[][][], number[] | null, (d: number) => number]> = [
    ['cosine_mse', {}, [U, V], LABELS, cosineMse],
    ['multiple_negatives_ranking', {}, [U, V], null, (d) => mnrl(d)],
    ['triplet', {}, [U, V, N], null, (d) => triplet(d)],
  ];
  for (const [name, params, cols, labels, byHand] of cases) {
    const m = createMatryoshkaLoss(createLoss(name, params), { dims, weights });
    const expected = dims.reduce((s, d, k) => s + weights[k] * byHand(d), 0);
    const got = await value(m, cols, labels);
    assert.ok(Math.abs(got - expected) < 1e-4 * Math.max(1, Math.abs(expected)), `${name}: ${got} vs hand-computed ${expected}`);
    // Default weights are 1 each.
    const plain = createMatryoshkaLoss(createLoss(name, params), { dims: [2] });
    assert.ok(Math.abs((await value(plain, cols, labels)) - byHand(2)) < 1e-4, `${name}: one dim, weight 1`);
  }
  // The wrapper keeps what the inner loss asks of the data.
  const inner = createLoss('multiple_negatives_ranking');
  const m = createMatryoshkaLoss(inner, { dims: [2] });
  assert.deepEqual([m.name, m.columns, m.maxColumns, m.needsLabel, m.minBatch], [inner.name, inner.columns, inner.maxColumns, inner.needsLabel, inner.minBatch]);
  assert.equal(m.params.matryoshka_dims, '2');
});

test('the Matryoshka loss differentiates (the gradient w.r.t. the embeddings the onnx engine uses) and refuses dims wider than the embedding', () => {
  const m = createMatryoshkaLoss(createLoss('cosine_mse'), { dims: [4, 2] });
  const u = tf.tensor2d(U);
  const v = tf.tensor2d(V);
  const lab = tf.tensor1d(LABELS);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => m.lossFromEmbeddings([a as tf.Tensor2D, b as tf.Tensor2D], lab))([u, v]);
  assert.deepEqual(g[0].shape, [3, 4]);
  assert.ok(g[0].dataSync().some((x) => Math.abs(x) > 1e-6));
  const wide = createMatryoshkaLoss(createLoss('cosine_mse'), { dims: [8] });
  assert.throws(() => wide.lossFromEmbeddings([u, v], lab), (e) => e instanceof ConfigError && /8 is more than the embedding size 4/.test(e.message));
  assert.throws(() => createMatryoshkaLoss(createLoss('cosine_mse'), { dims: [4, 2], weights: [1] }), ConfigError);
  tf.dispose([u, v, lab, ...g]);
});

test('with training.mini_batch_size (GradCache) the Matryoshka loss gives the gradients of the whole batch', async () => {
  const enc = await loadEncoder('builtin:tiny', { seed: 5 });
  const loss = createMatryoshkaLoss(createLoss('multiple_negatives_ranking'), { dims: [128, 32], weights: [1, 2] });
  const words = ['nurse', 'welder', 'baker', 'pilot', 'judge', 'tailor', 'miner', 'clerk'];
  const batch = words.map((w, i) => ({ texts: [`a ${w} at work`, `the ${w}${i % 2 ? ' on a long shift today' : ''}`] }));
  const vars = enc.trainableVariables();
  const plain = tf.variableGrads(() => loss.lossFromEmbeddings([0, 1].map((c) => enc.forward(enc.tokenize(batch.map((e) => e.texts[c])))), null), vars);
  const cached = await cachedVariableGrads(enc, loss, batch, vars, 4);
  assert.ok(Math.abs(plain.value.dataSync()[0] - cached.value.dataSync()[0]) < 1e-5);
  // Over all weights at once: a gradient that is zero in exact arithmetic (the attention key bias) is rounding noise on both sides.
  let diff = 0;
  let scale = 0;
  for (const [k, g] of Object.entries(plain.grads)) {
    const a = g.dataSync();
    const b = cached.grads[k].dataSync();
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
  }
  assert.ok(scale > 0 && diff / scale < 1e-4, `largest gradient difference ${diff} of ${scale}`);
  tf.dispose([plain.value, cached.value, ...Object.values(plain.grads), ...Object.values(cached.grads)]);
  enc.dispose();
});

test('truncation keeps the first d values, re-normalised to unit length', () => {
  const rows = [new Float32Array([3, 4, 12, 0]), new Float32Array([0, 0, 1, 1])];
  const t = truncateRows(rows, 2);
  assert.deepEqual(Array.from(t[0]), [Math.fround(0.6), Math.fround(0.8)]);
  assert.deepEqual(Array.from(t[1]), [0, 0], 'an all-zero prefix stays zero (eps), not NaN');
  assert.deepEqual(Array.from(rows[0]), [3, 4, 12, 0], 'the input is not changed');
  const full = truncateRows(rows, 4)[0];
  assert.ok(Math.abs(full.reduce((s, x) => s + x * x, 0) - 1) < 1e-6);
});

test('encode --dim writes the truncated, re-normalised embeddings; a dim above the model size is one line, exit 2', async () => {
  const input = join(tmp, 'texts.txt');
  const texts = ['software developer', 'nurse', 'a longer sentence about engineers'];
  writeFileSync(input, texts.join('\n') + '\n');
  const out = join(tmp, 'e32.npy');
  const r = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', out, '--dim', '32', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 embeddings \(dim 32\)/);
  const npy = readNpy(out);
  assert.deepEqual(npy.shape, [3, 32]);
  const enc = await loadEncoder('builtin:tiny');
  const full = await enc.encode(texts);
  const want = truncateRows(full, 32);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 32; j++) assert.ok(Math.abs(npy.data[i * 32 + j] - want[i][j]) < 1e-5);
  const lib = await enc.encode(texts, { dim: 32 });
  assert.deepEqual(lib.map((x) => Array.from(x)), want.map((x) => Array.from(x)), 'the library option gives the same');
  enc.dispose();
  const e = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'bad.npy'), '--dim', '999', '--backend', 'wasm']);
  assert.ok(isOneLineUserError(e), e.stderr);
  assert.match(e.stderr, /--dim 999 is more than the 128 values model builtin:tiny makes/);
  await assert.rejects(runEncode({ model: 'builtin:tiny', input, output: join(tmp, 'bad.npy'), 'batch-size': 32, normalize: false, backend: 'cpu', dim: 0 }), (err) => err instanceof UserError && /--dim must be a whole number >= 1, got 0/.test(err.message));
});

test('the STS evaluator reports pearson/spearman_cosine at every dim', async () => {
  const enc = await loadEncoder('builtin:tiny');
  const lines = readFileSync(join(FIX, 'pairs.csv'), 'utf8').trim().split('\n').slice(1);
  const pairs = lines.map((l) => {
    const [sentence1, sentence2, score] = l.split(',');
    return { sentence1, sentence2, score: Number(score) };
  });
  const r = await evaluateSts(enc, pairs, { dims: [128, 64, 16], name: 'dev' });
  for (const d of [128, 64, 16]) for (const k of ['pearson_cosine', 'spearman_cosine']) assert.ok(Number.isFinite(r.metrics[`dev_${k}@${d}`]), `dev_${k}@${d}`);
  assert.ok(Math.abs(r.metrics['dev_spearman_cosine@128'] - r.metrics.dev_spearman_cosine) < 1e-9, 'the full size is the plain metric');
  // @16 is the plain metric of the truncated embeddings.
  const e1 = await enc.encode(pairs.map((p) => p.sentence1));
  const e2 = await enc.encode(pairs.map((p) => p.sentence2));
  const gold = pairs.map((p) => p.score);
  const direct = stsMetrics(gold, truncateRows(e1, 16), truncateRows(e2, 16), ['cosine']).metrics;
  assert.ok(Math.abs(r.metrics['dev_spearman_cosine@16'] - direct.spearman_cosine) < 1e-9);
  assert.ok(Math.abs(perDimMetrics(gold, e1, e2, [16])['pearson_cosine@16'] - direct.pearson_cosine) < 1e-9);
  const md = perDimMarkdown([['tuned dev', r.metrics]], 'dev_');
  assert.deepEqual(md.slice(2).map((l) => l.split('|')[1].trim()), ['128', '64', '16'], 'one row per dim, largest first');
  // A dim wider than the model is a user's mistake (one line), not a stack trace.
  await assert.rejects(evaluateSts(enc, pairs, { dims: [999] }), (e) => e instanceof UserError && /dims 999 is more than the 128 values model builtin:tiny makes/.test(e.message));
  enc.dispose();
});

test('sbert-train eval --dims reports the STS metrics at each size and the per-dim table', () => {
  const out = join(tmp, 'eval');
  const r = runCli(['eval', '--model', 'builtin:tiny', '--sts', join(FIX, 'pairs.csv'), '--dims', '64,32', '--out', out, '--json', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const metrics = JSON.parse(r.stdout)['builtin:tiny'] as Record<string, number>;
  for (const k of ['pairs_spearman_cosine@64', 'pairs_pearson_cosine@32']) assert.ok(Number.isFinite(metrics[k]), k);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /## Matryoshka dimensions[\s\S]*\| Dim \| builtin:tiny pairs spearman_cosine \|[\s\S]*\| 64 \| [-\d.]+ \|/);
  const bad = runCli(['eval', '--model', 'builtin:tiny', '--sts', join(FIX, 'pairs.csv'), '--dims', '64,x', '--out', out, '--backend', 'wasm']);
  assert.ok(isOneLineUserError(bad), bad.stderr);
});

for (const backend of TEST_BACKENDS) test(`a short Matryoshka training run logs every dim and puts the per-dim table in the report and the model card (${backend})`, async () => {
  const engine = await useBackend(backend);
  const out = join(tmp, `run-${backend}`);
  const recipe = parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16 },
      data: { train: 'pairs.csv', dev: 'pairs.csv', score_scale: [0, 5] },
      loss: { name: 'cosine_mse', matryoshka: { dims: [128, 64, 32], weights: [1, 1, 0.5] } },
      training: { batch_size: 4, epochs: 1, checkpoint_every: null, log_every: 1 },
      evaluation: { monitor: 'spearman_cosine@64' },
      output: { dir: out },
    },
    { baseDir: FIX },
  );
  const res = await train(recipe, { log: () => {}, progress: false, ...engine });
  assert.ok(res.losses.length === 2 && res.losses.every(Number.isFinite));
  const evals = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'eval');
  assert.ok(evals.length >= 2);
  for (const d of [128, 64, 32]) assert.ok(typeof evals.at(-1)[`spearman_cosine@${d}`] === 'number', `spearman_cosine@${d} logged`);
  const report = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(report, /## Matryoshka dimensions/);
  assert.match(report, /\| 32 \| [-\d.]+ \|/);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Matryoshka dimensions/);
  const card = readFileSync(join(out, 'model', 'README.md'), 'utf8');
  assert.match(card, /### Matryoshka dimensions/);
  assert.match(card, /\| Dim \| dev spearman_cosine \| dev pearson_cosine \|\n\|--:\|--:\|--:\|\n\| 128 \| /);
  assert.ok(existsSync(join(out, 'model', 'model.safetensors')));
});

test('recipe errors: weights of another length, repeated or zero dims, a dim above the model size (one line, exit 2)', () => {
  const base = { model: { base: 'builtin:tiny' }, data: { train: 'pairs.csv', score_scale: [0, 5] }, output: { dir: join(tmp, 'x') } };
  const parse = (matryoshka: unknown) => () => parseRecipe({ ...base, loss: { matryoshka } }, { baseDir: FIX });
  assert.throws(parse({ dims: [64, 32], weights: [1] }), /loss\.matryoshka\.weights: 1 weight\(s\) for 2 dim\(s\)/);
  assert.throws(parse({ dims: [64, 64] }), /loss\.matryoshka\.dims\[1\]: 64 is listed twice/);
  assert.throws(parse({ dims: [0] }), /loss\.matryoshka\.dims\[0\]: must be >= 1/);
  assert.throws(parse({ weights: [1] }), /loss\.matryoshka\.dims: required/);
  assert.throws(parse({ dims: [32], weights: [0] }), /loss\.matryoshka\.weights\[0\]: must be > 0/);
  const yaml = join(tmp, 'wide.yaml');
  writeFileSync(
    yaml,
    [
      'model: { base: "builtin:tiny" }',
      `data: { train: "${join(FIX, 'pairs.csv')}", score_scale: [0, 5] }`,
      'loss: { matryoshka: { dims: [256, 64] } }',
      `output: { dir: "${join(tmp, 'wide-run')}" }`,
    ].join('\n') + '\n',
  );
  const r = runCli([yaml, '--backend', 'wasm']);
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /loss\.matryoshka\.dims: 256 is more than the 128 values model builtin:tiny makes/);
});
