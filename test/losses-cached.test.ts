/**
 * Cached in-batch negatives (GradCache, src/training/cached-step.ts): the loss and every weight's
 * gradient of a batch embedded in mini-batches equal the uncached batch's, on each tfjs backend
 * (wasm, cpu, and webgpu where a WebGPU adapter exists) and on the onnx training engine on each
 * execution provider (CPU, and WebGPU / CUDA where they run; skipped with the reason printed
 * otherwise); train() with training.mini_batch_size takes the cached path and follows the same
 * losses; the recipe refuses bad mini_batch_size values.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { createLoss, type Loss } from '../src/losses/index.js';
import { loadEncoder, type SentenceEncoder } from '../src/models/index.js';
import { SentenceEncoder as EncoderClass } from '../src/models/sentence-encoder.js';
import { encoderSpec, encoderWeights } from '../src/engine/onnx/encoder.js';
import { OnnxTrainingEngine } from '../src/engine/onnx/training.js';
import type { ExecutionProvider } from '../src/engine/onnx/providers.js';
import { loadOrt } from '../src/engine/onnx/runtime.js';
import { cachedVariableGrads, embeddingLossGrads, engineCachedBatch, sliceTokens, usesMiniBatches } from '../src/training/cached-step.js';
import { train } from '../src/training/index.js';
import { parseRecipe } from '../src/recipe/index.js';
import { ConfigError } from '../src/errors.js';
import type { Example } from '../src/training/data.js';
import { TEST_BACKENDS } from './helpers/backends.js';
import { ONNX_GPU_BACKENDS, onnxProviderUnavailable, webgpuUnavailable } from './helpers/gpu.js';
import { ROOT } from './helpers/cli.js';
import { relativeErrors } from './helpers/grads.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-cached-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

before(async () => {
  await initBackend('wasm', { quiet: true });
});

const WORDS = ['guitar', 'onion', 'horse', 'piano', 'car', 'dog', 'river', 'bread', 'phone', 'chair', 'cloud', 'apple'];
/** n examples of five texts of different lengths (so padding matters) and a score. */
function examples(n: number): Example[] {
  return Array.from({ length: n }, (_, i) => {
    const w = (k: number) => WORDS[(i * 7 + k * 5) % WORDS.length];
    return {
      texts: [`A man with a ${w(0)}${i % 3 === 0 ? ' and a longer tail' : ''}.`, `Someone has a ${w(i % 3 === 0 ? 0 : 1)}.`, `The ${w(2)} is not ${w(3)}.`, `No ${w(4)} here.`, `A ${w(5)}, a ${w(6)} and a ${w(1)} on the table.`],
      label: ((i * 37) % 100) / 100,
    };
  });
}

/** The uncached reference: every column of the batch through the encoder at once, as the trainer's batchLoss. */
async function plainGrads(enc: SentenceEncoder, loss: Loss, batch: Example[], columns: number): Promise<{ value: number; grads: Map<string, Float32Array> }> {
  const { value, grads } = tf.variableGrads(() => {
    const embeddings = Array.from({ length: columns }, (_, c) => enc.forward(enc.tokenize(batch.map((e) => e.texts[c]))));
    const labels = loss.needsLabel ? tf.tensor1d(batch.map((e) => e.label!)) : null;
    return loss.lossFromEmbeddings(embeddings, labels);
  }, enc.trainableVariables());
  return { value: (await read(value))[0], grads: await byName(enc, grads) };
}

/** Asynchronous: the webgpu backend cannot read synchronously in Node. */
async function read(t: tf.Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

async function byName(enc: SentenceEncoder, grads: tf.NamedTensorMap): Promise<Map<string, Float32Array>> {
  const names = new Map([...enc.namedWeights()].map(([n, v]) => [v.name, n]));
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(names.get(k)!, await read(g));
  return out;
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), 1e-12);

/** ||a - b|| / ||a|| over all weights' gradients together. */
function wholeRelative(ref: Map<string, Float32Array>, got: Map<string, Float32Array>): number {
  let d2 = 0;
  let n2 = 0;
  for (const [k, a] of ref) {
    const b = got.get(k)!;
    for (let i = 0; i < a.length; i++) {
      d2 += (a[i] - b[i]) ** 2;
      n2 += a[i] ** 2;
    }
  }
  return Math.sqrt(d2 / n2);
}

/**
 * The acceptance check: the loss within 1e-5 relative, the whole gradient within 1e-5 relative
 * (norm), and every weight's gradient within 1e-5 relative of its largest entry, or, for the
 * few weights whose float32 noise is larger than that, within twice that noise. The noise is
 * measured: the uncached gradients of the same batch with its rows in two other orders (the
 * same gradient in exact arithmetic) against the uncached one, the larger of the two. A LayerNorm bias's gradient is a sum
 * over every token with much cancellation, so merely reordering the rows moves it by several
 * 1e-5 of its largest entry.
 */
function assertSameGradients(label: string, ref: { value: number; grads: Map<string, Float32Array> }, reordered: Map<string, Float32Array>[], got: { value: number; grads: Map<string, Float32Array> }): void {
  const lossDiff = relative(ref.value, got.value);
  const whole = wholeRelative(ref.grads, got.grads);
  const diffs = relativeErrors(ref.grads, got.grads);
  const noise = reordered.map((r) => relativeErrors(ref.grads, r)).reduce(maxOf);
  let worst = '';
  for (const [name, d] of diffs) {
    const allowed = Math.max(1e-5, 2 * noise.get(name)!);
    assert.ok(d <= allowed, `${label}: ${name} off by ${d.toExponential(2)} (allowed ${allowed.toExponential(2)})`);
    if (worst === '' || d > diffs.get(worst)!) worst = name;
  }
  const within = [...diffs.values()].filter((d) => d <= 1e-5).length;
  process.stdout.write(
    `# ${label}: loss ${ref.value.toFixed(6)}, relative diff ${lossDiff.toExponential(2)}; whole gradient ${whole.toExponential(2)}; ${within}/${diffs.size} weights within 1e-5; worst ${worst} ${diffs.get(worst)!.toExponential(2)} (reordering the uncached batch: ${noise.get(worst)!.toExponential(2)})\n`,
  );
  assert.ok(lossDiff <= 1e-5, `${label}: loss ${got.value} vs ${ref.value}`);
  assert.ok(whole <= 1e-5, `${label}: whole gradient off by ${whole}`);
}

/** The same examples in two other orders: every loss here gives the same value and gradient in exact arithmetic. */
const reorderings = <T>(xs: T[]): T[][] => [[...xs.slice(xs.length >> 1), ...xs.slice(0, xs.length >> 1)], [...xs].reverse()];

/** Per weight, the larger of two noise measurements. */
function maxOf(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  return new Map([...a].map(([k, v]) => [k, Math.max(v, b.get(k)!)]));
}

/**
 * Losses and column counts: MNRL with and without hard negatives (one, and three as an n-tuple
 * file gives them), its symmetric variant, and two labelled losses (GradCache is exact for any
 * loss of the embeddings).
 */
const CASES: { loss: string; columns: number }[] = [
  { loss: 'multiple_negatives_ranking', columns: 2 },
  { loss: 'multiple_negatives_ranking', columns: 3 },
  { loss: 'multiple_negatives_ranking', columns: 5 },
  { loss: 'multiple_negatives_symmetric_ranking', columns: 2 },
  { loss: 'angle', columns: 2 },
  { loss: 'cosine_mse', columns: 2 },
];
/** Where each check runs: its cases, batch and mini-batch sizes (10 rows: mini-batches of 4, 4 and 2). */
interface Setting {
  cases: typeof CASES;
  batch: number;
  mini: number;
}
const FULL: Setting = { cases: CASES, batch: 10, mini: 4 };
/**
 * The GPU backends (lavapipe, a CPU rasteriser, on CI) check cached MNRL without and with hard
 * negatives (2 and 5 columns) on a smaller batch (4 rows: mini-batches of 3 and 1), so the check
 * costs seconds (about 8 s on webgpu and 6 s on onnx-webgpu with lavapipe on a 2-core machine);
 * SBERT_TEST_BACKENDS naming the backend asks for every case on the full batch.
 */
const gpu = (backend: string): Setting => (TEST_BACKENDS.includes(backend) ? FULL : { cases: [CASES[0], CASES[2]], batch: 4, mini: 3 });

/**
 * tfjs backends the cached step is checked on: wasm with every case, the (slow, plain JS) cpu
 * backend with MNRL, and webgpu where a WebGPU adapter exists.
 */
const TFJS: [string, Setting][] = [
  ['wasm', FULL],
  ['cpu', { ...FULL, cases: CASES.slice(0, 1) }],
  ['webgpu', gpu('webgpu')],
];

describe('tfjs path: cached loss and every weight gradient = uncached within 1e-5 relative', () => {
  for (const [backend, { cases, batch: size, mini }] of TFJS) {
    test(`${backend}: ${cases.map((c) => `${c.loss} (${c.columns} columns)`).join(', ')}`, async (t) => {
      // Looked for here, after wasm has loaded (the before hook): with the webgpu package set up first, tfjs-backend-wasm failed to load in 2 of 4 runs here.
      const why = backend === 'webgpu' && (await webgpuUnavailable());
      if (why) return t.skip(why);
      await initBackend(backend, { quiet: true });
      const enc = await loadEncoder('builtin:tiny', { seed: 3 });
      const batch = examples(size);
      for (const [i, c] of cases.entries()) {
        const loss = createLoss(c.loss);
        const cols = batch.map((e) => ({ ...e, texts: e.texts.slice(0, c.columns) }));
        const ref = await plainGrads(enc, loss, cols, c.columns);
        const reordered = [];
        for (const rows of reorderings(cols)) reordered.push((await plainGrads(enc, loss, rows, c.columns)).grads);
        const before = tf.memory().numTensors;
        const got = await cachedVariableGrads(enc, loss, cols, enc.trainableVariables(), mini);
        const cached = { value: (await read(got.value))[0], grads: await byName(enc, got.grads) };
        assert.equal(tf.memory().numTensors, before, `${c.loss}: the cached step leaks no tensors`);
        assert.deepEqual([...cached.grads.keys()].sort(), [...ref.grads.keys()].sort(), 'the same weights get gradients');
        assertSameGradients(`${backend} ${c.loss} (${c.columns} columns)`, ref, reordered, cached);
        if (i > 0) continue;
        // The comparison can fail: a mini-batch's gradient left out (the last one dropped) is caught.
        const partial = await cachedVariableGrads(enc, loss, cols.slice(0, size - 2), enc.trainableVariables(), mini);
        await read(partial.value);
        assert.ok(wholeRelative(ref.grads, await byName(enc, partial.grads)) > 1e-3, 'a smaller batch gives other gradients');
      }
      enc.dispose();
    });
  }
  after(async () => {
    await initBackend('wasm', { quiet: true });
  });
});

/** The onnx training engine on each execution provider: the CPU with every case, the GPU ones where they run. */
const ONNX: [string, ExecutionProvider, Setting][] = [['onnx', 'cpu', FULL], ...ONNX_GPU_BACKENDS.map(([name, provider]): [string, ExecutionProvider, Setting] => [name, provider, gpu(name)])];

for (const [name, provider, { cases, batch: size, mini }] of ONNX) {
  test(`onnx training engine (${name}): cached loss and every weight gradient = uncached within 1e-5 relative`, async (t) => {
    const why = provider === 'cpu' ? false : await onnxProviderUnavailable(await loadOrt(), name, provider);
    if (why) return t.skip(why);
    await onnxCachedEqualsPlain(name, provider, cases, size, mini);
  });
}

async function onnxCachedEqualsPlain(name: string, provider: ExecutionProvider, cases: typeof CASES, size: number, mini: number): Promise<void> {
  await initBackend('wasm', { quiet: true });
  const enc = await loadEncoder('builtin:tiny', { seed: 3 });
  const engine = await OnnxTrainingEngine.create(encoderSpec(enc), await encoderWeights(enc), null, { threads: 1, provider });
  const batch = examples(size);
  for (const c of cases) {
    const loss = createLoss(c.loss);
    const cols = batch.map((e) => ({ ...e, texts: e.texts.slice(0, c.columns) }));
    // uncached, as engine-step.ts: every column forward at once, loss, backward
    const uncached = async (rows: Example[]) => {
      const saved = [];
      const embeddings: tf.Tensor2D[] = [];
      for (let k = 0; k < c.columns; k++) {
        const out = await engine.forward(enc.tokenize(rows.map((e) => e.texts[k])));
        saved.push(out.saved);
        embeddings.push(tf.tensor2d(out.embeddings, [rows.length, engine.dim]));
      }
      const { value, dEmbeddings } = await embeddingLossGrads(loss, embeddings, rows);
      tf.dispose(embeddings);
      const grads = new Map<string, Float32Array>();
      for (let k = 0; k < c.columns; k++) await engine.backward(saved[k], dEmbeddings[k], grads);
      return { value, grads };
    };
    const ref = await uncached(cols);
    const reordered = [];
    for (const rows of reorderings(cols)) reordered.push((await uncached(rows)).grads);
    const grads = new Map<string, Float32Array>();
    const value = await engineCachedBatch(engine, enc, loss, cols, mini, grads);
    assert.deepEqual([...grads.keys()].sort(), [...ref.grads.keys()].sort(), 'the same weights get gradients');
    assertSameGradients(`${name} ${c.loss} (${c.columns} columns)`, ref, reordered, { value, grads });
    if (c !== cases[0]) continue;
    // The comparison can fail: a batch missing its last mini-batch gives other gradients.
    const partial = new Map<string, Float32Array>();
    await engineCachedBatch(engine, enc, loss, cols.slice(0, size - 2), mini, partial);
    assert.ok(wholeRelative(ref.grads, partial) > 1e-3);
  }
  await engine.release();
  enc.dispose();
}

test('sliceTokens keeps the whole batch padding; usesMiniBatches only when the batch splits', () => {
  const b = { inputIds: Int32Array.from([1, 2, 0, 3, 4, 5, 6, 0, 0]), attentionMask: Int32Array.from([1, 1, 0, 1, 1, 1, 1, 0, 0]), tokenTypeIds: new Int32Array(9), batchSize: 3, seqLen: 3 };
  const s = sliceTokens(b, 1, 3);
  assert.deepEqual([...s.inputIds], [3, 4, 5, 6, 0, 0]);
  assert.deepEqual([...s.attentionMask], [1, 1, 1, 1, 0, 0]);
  assert.equal(s.batchSize, 2);
  assert.equal(s.seqLen, 3);
  assert.equal(usesMiniBatches(null, 10), false);
  assert.equal(usesMiniBatches(10, 10), false);
  assert.equal(usesMiniBatches(4, 10), true);
});

// ---- through train() ----

function writeData(): string {
  const rows = ['a,b,c'];
  for (const [i, e] of examples(24).entries()) rows.push(e.texts.slice(0, 3).map((t) => `${i}: ${t}`).join(','));
  const file = join(tmp, 'train.csv');
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

function recipe(file: string, mini: number | null) {
  return parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16 },
      data: { train: file, columns: { texts: ['a', 'b', 'c'], label: null } },
      loss: { name: 'multiple_negatives_ranking' },
      optimizer: { name: 'adamw', lr: 1e-4, clip_grad_norm: 1 },
      training: { batch_size: 8, mini_batch_size: mini, max_steps: 3, seed: 5, checkpoint_every: null },
      output: { dir: mkdtempSync(join(tmp, 'run-')) },
    },
    { baseDir: tmp },
  );
}

/** Count calls of a prototype method while `fn` runs. */
async function counting<T>(proto: object, method: string, fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
  const target = proto as Record<string, (...a: unknown[]) => unknown>;
  const original = target[method];
  let calls = 0;
  target[method] = function (this: unknown, ...a: unknown[]) {
    calls += 1;
    return original.apply(this, a);
  };
  try {
    return { value: await fn(), calls };
  } finally {
    target[method] = original;
  }
}

for (const engine of ['tfjs', 'onnx'] as const) {
  test(`train() with training.mini_batch_size 3 (${engine}): the cached path runs and gives the uncached per-step losses within 1e-5 relative`, async () => {
    await initBackend('wasm', { quiet: true });
    const file = writeData();
    const quiet = { log: () => {}, progress: false, skipSave: true, engine, threads: 1 };
    const proto = engine === 'onnx' ? OnnxTrainingEngine.prototype : EncoderClass.prototype;
    const plain = await counting(proto, 'forward', () => train(recipe(file, null), quiet));
    const cached = await counting(proto, 'forward', () => train(recipe(file, 3), quiet));
    // 3 steps x 3 columns: one pass per column uncached; mini-batches of 3, 3, 2 rows embedded, then again for the backward pass
    assert.equal(plain.calls, 3 * 3);
    assert.equal(cached.calls, 3 * 3 * 3 * 2);
    const rel = plain.value.losses.map((x, i) => relative(x, cached.value.losses[i]));
    process.stdout.write(`# train ${engine}: per-step relative loss diffs ${rel.map((x) => x.toExponential(1)).join(' ')}\n`);
    assert.ok(rel.every((x) => x <= 1e-5), rel.join(' '));
  });
}

// ---- recipe ----

describe('recipe: training.mini_batch_size', () => {
  const FIX = join(ROOT, 'test', 'fixtures', 'recipes');
  const base = (training: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    model: { base: 'builtin:tiny' },
    data: { train: 'pairs.csv', columns: { texts: ['sentence1', 'sentence2'], label: null } },
    loss: { name: 'multiple_negatives_ranking' },
    training: { batch_size: 16, ...training },
    ...extra,
  });
  const problems = (raw: unknown): string[] => {
    try {
      parseRecipe(raw, { baseDir: FIX, fileName: 'r.yaml' });
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.problems;
    }
    return [];
  };
  test('null by default; any loss may use it, up to the batch size', () => {
    assert.equal(parseRecipe(base({}), { baseDir: FIX }).training.mini_batch_size, null);
    assert.equal(parseRecipe(base({ mini_batch_size: 4 }), { baseDir: FIX }).training.mini_batch_size, 4);
    assert.equal(parseRecipe(base({ mini_batch_size: 16 }), { baseDir: FIX }).training.mini_batch_size, 16);
    const scored = { ...base({ mini_batch_size: 2 }), loss: { name: 'cosent' }, data: { train: 'pairs.csv', score_scale: [0, 5] } };
    assert.deepEqual(problems(scored), []);
  });
  test('only the embedding task takes it', () => {
    const mlm = { task: 'mlm', model: { base: 'builtin:tiny' }, data: { train: 'pairs.csv', columns: { texts: ['sentence1'], label: null } }, training: { batch_size: 16, mini_batch_size: 4 } };
    assert.deepEqual(problems(mlm), ["training.mini_batch_size: only the embedding task embeds in mini-batches, not task 'mlm'"]);
  });
  for (const [value, expected] of [
    [0, /^training\.mini_batch_size: must be >= 1/],
    [2.5, /^training\.mini_batch_size: must be an integer, got 2\.5/],
    ['small', /^training\.mini_batch_size: must be an integer, got the string "small"/],
    [32, /^training\.mini_batch_size: 32 is more than training\.batch_size \(16\)/],
  ] as const) {
    test(`${JSON.stringify(value)} is refused with one problem naming the key`, () => {
      const p = problems(base({ mini_batch_size: value }));
      assert.ok(p.some((x) => expected.test(x)), p.join(' | '));
    });
  }
});
