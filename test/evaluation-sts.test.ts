/**
 * STS readers and the STS evaluator: file layouts, one-line data errors, the scoring path
 * against Python references (benchmarks/peers/st_eval_reference.py), encode-once behaviour,
 * and - when its fixture exists - full parity with sentence-transformers'
 * EmbeddingSimilarityEvaluator on STSb test. What encodes runs on each backend of
 * test/helpers/backends.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ROOT, SHARED } from './helpers/cli.js';
import { loadSts, readJstsFile, readStsPairs, readStsbFile } from '../src/data/sts.js';
import { DataError, UserError } from '../src/errors.js';
import { evaluateSts, stsMetrics } from '../src/evaluation/index.js';
import { loadEncoder, type Encoder } from '../src/models/index.js';
import { agreeAcrossBackends, TEST_BACKENDS, useBackend } from './helpers/backends.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-sts-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

test('STSb layout: columns 4-6, extra trailing columns ignored, quotes kept literally', () => {
  const p = file(
    'sts-x.csv',
    'main-captions\tMSRvid\t2012test\t0024\t2.500\tA girl is styling her hair.\tA girl is brushing her hair.\n' +
      'main-news\theadlines\t2015\t0001\t4.0\t"Quoted" start\tsecond\tsource-a\tsource-b\n\n',
  );
  assert.deepEqual(readStsbFile(p), [
    { sentence1: 'A girl is styling her hair.', sentence2: 'A girl is brushing her hair.', score: 2.5 },
    { sentence1: '"Quoted" start', sentence2: 'second', score: 4 },
  ]);
  // content sniffing picks the same reader for a generic path
  assert.equal(readStsPairs(p).length, 2);
});

test('STSb layout errors name the file and line', () => {
  const short = file('short.csv', 'a\tb\tc\td\t1.0\tonly one sentence\n');
  assert.throws(() => readStsbFile(short), (e: Error) => e instanceof DataError && e.message.includes(`${short}:1`) && !e.message.includes('\n'));
  const bad = file('bad.csv', 'a\tb\tc\td\t1.0\tx\ty\na\tb\tc\td\tfive\tx\ty\n');
  assert.throws(() => readStsbFile(bad), (e: Error) => e instanceof DataError && e.message.includes(`${bad}:2`) && /score 'five'/.test(e.message));
  const empty = file('empty.csv', '\n\n');
  assert.throws(() => readStsbFile(empty), /no sentence pairs/);
});

test('JSTS json lines use label as the score; generic csv / jsonl take a column mapping', () => {
  const j = file('valid.json', '{"sentence_pair_id": "0", "sentence1": "猫がいる。", "sentence2": "犬がいる。", "label": 1.4}\n');
  assert.deepEqual(readJstsFile(j), [{ sentence1: '猫がいる。', sentence2: '犬がいる。', score: 1.4 }]);
  const csv = file('pairs.csv', 'a,b,sim\n"one, with comma",two,0.5\nthree,four,1\n');
  assert.deepEqual(readStsPairs(csv, { sentence1: 'a', sentence2: 'b', score: 'sim' }), [
    { sentence1: 'one, with comma', sentence2: 'two', score: 0.5 },
    { sentence1: 'three', sentence2: 'four', score: 1 },
  ]);
  const tsv = file('pairs.tsv', 'sentence1\tsentence2\tscore\nx\ty\t3\n');
  assert.deepEqual(readStsPairs(tsv), [{ sentence1: 'x', sentence2: 'y', score: 3 }]);
  assert.throws(() => readStsPairs(csv), (e: Error) => e instanceof DataError && e.message.includes(`${csv}:2`) && e.message.includes("missing column 'sentence1'"));
  const badJson = file('bad.jsonl', '{"sentence1": "a", "sentence2": "b", "score": 1}\n{oops\n');
  assert.throws(() => readStsPairs(badJson), new RegExp(`${badJson.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not valid JSON`));
  assert.throws(() => readStsPairs(join(tmp, 'nope.csv')), /not found/);
});

test('stsb / jsts resolve under shared/, and say where to put the files when missing', { skip: SHARED ? false : 'no ../shared (reference data) on this machine' }, () => {
  const test_ = loadSts('stsb', 'test');
  assert.equal(test_.name, 'stsb-test');
  assert.equal(test_.pairs.length, 1379);
  assert.equal(loadSts('stsb', 'dev').pairs.length, 1500);
  assert.deepEqual(test_.pairs[0], { sentence1: 'A girl is styling her hair.', sentence2: 'A girl is brushing her hair.', score: 2.5 });
  const jsts = loadSts('jsts', 'dev');
  assert.equal(jsts.name, 'jsts-valid');
  assert.ok(jsts.pairs.length > 1000 && jsts.pairs.every((p) => p.score >= 0 && p.score <= 5));
});

test('a missing named dataset is a UserError that names the file and its source', () => {
  const empty = join(tmp, 'empty-shared');
  mkdirSync(empty, { recursive: true });
  const before = process.env.SBERT_SHARED;
  process.env.SBERT_SHARED = empty;
  try {
    assert.throws(
      () => loadSts('stsb', 'test'),
      (e: Error) => e instanceof UserError && e.message.includes(join(empty, 'datasets', 'stsb', 'sts-test.csv')) && e.message.includes('Stsbenchmark') && !e.message.includes('\n'),
    );
    assert.throws(() => loadSts('jsts', 'test'), /valid-v1\.3\.json/);
  } finally {
    if (before === undefined) delete process.env.SBERT_SHARED;
    else process.env.SBERT_SHARED = before;
  }
});

function decodeF32(b64: string, rows: number, dim: number): Float32Array[] {
  const buf = Buffer.from(b64, 'base64');
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return Array.from({ length: rows }, (_, i) => all.slice(i * dim, (i + 1) * dim));
}

// Not 1e-9: float32 sums differ in the last bit with summation order (torch, numpy and we each
// sum differently), which moves the correlations by ~1e-8. 1e-7 still catches any real change
// in the math (a missing negation, ranks without tie averaging, another normalisation eps).
test("similarity scores + correlations match sentence-transformers' float32 scoring path (scipy) to 1e-7", () => {
  const ref = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/metrics/st_scores_reference.json'), 'utf8')) as {
    n: number;
    dim: number;
    gold: number[];
    emb1_f32le_base64: string;
    emb2_f32le_base64: string;
    metrics: Record<string, number>;
  };
  const { metrics } = stsMetrics(ref.gold, decodeF32(ref.emb1_f32le_base64, ref.n, ref.dim), decodeF32(ref.emb2_f32le_base64, ref.n, ref.dim));
  assert.deepEqual(Object.keys(metrics).sort(), Object.keys(ref.metrics).sort());
  for (const [k, v] of Object.entries(ref.metrics)) assert.ok(Math.abs(metrics[k] - v) <= 1e-7, `${k}: ${metrics[k]} vs ${v}`);
});

/** Wraps an encoder to record what it was asked to encode. */
function counting(inner: Encoder): Encoder & { seen: string[] } {
  const seen: string[] = [];
  return Object.assign(Object.create(inner) as Encoder, {
    seen,
    encode: (texts: string[], opts?: Parameters<Encoder['encode']>[1]) => {
      seen.push(...texts);
      return inner.encode(texts, opts);
    },
  });
}

for (const backend of TEST_BACKENDS) test(`evaluateSts encodes each distinct text once, prefixes keys, and does not leak tensors (${backend})`, async () => {
  await useBackend(backend);
  const enc = await loadEncoder('builtin:tiny', { seed: 3 });
  const pairs = [
    { sentence1: 'a cat sits', sentence2: 'a cat is sitting', score: 4.5 },
    { sentence1: 'a cat sits', sentence2: 'the stock market fell', score: 0.2 },
    { sentence1: 'a man plays guitar', sentence2: 'a man is playing a guitar', score: 4.8 },
    { sentence1: 'the stock market fell', sentence2: 'a man plays guitar', score: 0 },
    { sentence1: 'two dogs run', sentence2: 'dogs are running', score: 3.6 },
  ];
  const wrapped = counting(enc);
  const before = tf.memory().numTensors;
  const r = await evaluateSts(wrapped, pairs, { batchSize: 4, name: 'tiny-dev' });
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  // 10 sentences in the pairs, 7 distinct
  assert.equal(wrapped.seen.length, 7, 'each distinct text encoded exactly once');
  assert.equal(new Set(wrapped.seen).size, 7);
  assert.equal(r.primaryMetric, 'tiny-dev_spearman_cosine');
  for (const fn of ['cosine', 'euclidean', 'manhattan', 'dot']) {
    for (const c of ['pearson', 'spearman']) assert.ok(Number.isFinite(r.metrics[`tiny-dev_${c}_${fn}`]), `${c}_${fn}`);
  }
  // same numbers as scoring the embeddings directly, pair by pair; to 1e-5, not exactly: these
  // batches pad to other lengths than the evaluator's, and wasm's and onnxruntime's matrix
  // products round by shape (up to 9e-7 seen on onnx; a real difference in the scoring moves them far more)
  const e1 = await enc.encode(pairs.map((p) => p.sentence1));
  const e2 = await enc.encode(pairs.map((p) => p.sentence2));
  const direct = stsMetrics(pairs.map((p) => p.score), e1, e2).metrics;
  for (const [k, v] of Object.entries(direct)) assert.ok(Math.abs(r.metrics[`tiny-dev_${k}`] - v) < 1e-5, `${k}: ${r.metrics[`tiny-dev_${k}`]} vs ${v}`);
  agreeAcrossBackends('evaluateSts metrics', backend, r.metrics, 1e-4);
  assert.deepEqual(r.gold, pairs.map((p) => p.score));
  assert.equal(r.cosine.length, pairs.length);
  enc.dispose();
});

const PARITY = join(ROOT, 'test/fixtures/metrics/st_eval_stsb_test.json');
const paritySkip = !existsSync(PARITY)
  ? `no ${PARITY}: run benchmarks/peers/st_eval_reference.py model on a machine with sentence-transformers`
  : !SHARED
    ? 'no ../shared (STSb) on this machine'
    : false;

for (const backend of TEST_BACKENDS) test(`STSb test metrics reproduce sentence-transformers' EmbeddingSimilarityEvaluator to 1e-6 (${backend})`, { skip: paritySkip, timeout: 600_000 }, async () => {
  const ref = JSON.parse(readFileSync(PARITY, 'utf8')) as { model: string; seed?: number; name: string; pairs: number; primary_metric: string; metrics: Record<string, number> };
  await useBackend(backend);
  const spec = ref.model.startsWith('builtin:') ? ref.model : resolve(ROOT, ref.model);
  const enc = await loadEncoder(spec, { seed: ref.seed ?? 42 });
  const data = loadSts('stsb', 'test');
  assert.equal(data.pairs.length, ref.pairs);
  const r = await evaluateSts(enc, data.pairs, { batchSize: 32, name: ref.name });
  enc.dispose();
  assert.equal(r.primaryMetric, ref.primary_metric);
  for (const [k, v] of Object.entries(ref.metrics)) {
    if (/_max$/.test(k)) continue; // ST's max over functions; we report each function
    assert.ok(Math.abs(r.metrics[k] - v) <= 1e-6, `${k}: ours ${r.metrics[k]} vs sentence-transformers ${v}`);
  }
});
