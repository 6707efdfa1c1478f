/**
 * Pair-classification and retrieval evaluators: the metric maps on hand-made scores and
 * rankings, and the encoder-driven versions on builtin:tiny (same numbers as scoring its
 * embeddings directly, name prefixes, primary metric, no tensor leaks) on each backend of
 * test/helpers/backends.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { loadEncoder } from '../src/models/index.js';
import { binaryMetrics, DEFAULT_KS, evaluateBinary, evaluateRetrieval, pairScores, retrievalMetrics } from '../src/evaluation/index.js';
import { agreeAcrossBackends, TEST_BACKENDS, useBackend } from './helpers/backends.js';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('binaryMetrics: accuracy, F1, precision, recall, AP and thresholds by hand', () => {
  // sorted: 0.9(1) 0.8(0) 0.7(1) 0.3(0)
  const m = binaryMetrics('cosine', [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.3]);
  close(m.cosine_accuracy, 0.75, 'accuracy'); // cut after 0.9 (1 TP + 2 TN) or after 0.7 (2 TP + 1 TN): first wins
  close(m.cosine_accuracy_threshold, 0.85, 'acc threshold');
  close(m.cosine_f1, 0.8, 'f1'); // after 0.7: P = 2/3, R = 1
  close(m.cosine_precision, 2 / 3, 'precision');
  close(m.cosine_recall, 1, 'recall');
  close(m.cosine_f1_threshold, 0.5, 'f1 threshold');
  close(m.cosine_ap, (1 + 2 / 3) / 2, 'ap');
});

test('retrievalMetrics averages per-query @k metrics over judged queries', () => {
  const ranked = { q1: ['a', 'b', 'c'], q2: ['c', 'a', 'b'], q3: ['a'] };
  const relevant = { q1: ['a'], q2: ['b'], q3: [] as string[] };
  const ks = { accuracy: [1, 3], precision: [1], recall: [3], mrr: [3], ndcg: [3], map: [3] };
  const m = retrievalMetrics(ranked, relevant, ks);
  // q3 has no judgements: ignored
  close(m['cosine_accuracy@1'], 0.5, 'acc@1');
  close(m['cosine_accuracy@3'], 1, 'acc@3');
  close(m['cosine_precision@1'], 0.5, 'p@1');
  close(m['cosine_recall@3'], 1, 'r@3');
  close(m['cosine_mrr@3'], (1 + 1 / 3) / 2, 'mrr@3');
  close(m['cosine_ndcg@3'], (1 + 1 / Math.log2(4)) / 2, 'ndcg@3');
  close(m['cosine_map@3'], (1 + 1 / 3) / 2, 'map@3');
});

for (const backend of TEST_BACKENDS) test(`evaluateBinary / evaluateRetrieval on builtin:tiny: prefixed keys, primary metric, direct-scoring equality, no leaks (${backend})`, async () => {
  await useBackend(backend);
  const enc = await loadEncoder('builtin:tiny', { seed: 5 });
  const pairs = [
    { sentence1: 'how do I reset my password', sentence2: 'password reset steps', label: 1 },
    { sentence1: 'how do I reset my password', sentence2: 'best pizza in town', label: 0 },
    { sentence1: 'cheap flights to tokyo', sentence2: 'low cost airfare tokyo', label: 1 },
    { sentence1: 'cheap flights to tokyo', sentence2: 'how to bake bread', label: 0 },
    { sentence1: 'weather tomorrow', sentence2: 'forecast for tomorrow', label: 1 },
  ];
  const before = tf.memory().numTensors;
  const b = await evaluateBinary(enc, pairs, { name: 'dup' });
  assert.equal(b.primaryMetric, 'dup_cosine_ap');
  const e1 = await enc.encode(pairs.map((p) => p.sentence1));
  const e2 = await enc.encode(pairs.map((p) => p.sentence2));
  const direct = binaryMetrics('cosine', pairs.map((p) => p.label), pairScores('cosine', e1, e2));
  for (const [k, v] of Object.entries(direct)) close(b.metrics[`dup_${k}`], v, k);
  for (const fn of ['euclidean', 'manhattan', 'dot']) assert.ok(Number.isFinite(b.metrics[`dup_${fn}_ap`]), fn);
  await assert.rejects(() => evaluateBinary(enc, [{ sentence1: 'a', sentence2: 'b', label: 2 }]), /label must be 0 or 1/);

  const r = await evaluateRetrieval(enc, {
    queries: { q1: 'password reset', q2: 'flights to tokyo' },
    corpus: { d1: 'password reset steps', d2: 'low cost airfare tokyo', d3: 'how to bake bread' },
    relevant: { q1: ['d1'], q2: ['d2'] },
  });
  assert.equal(r.primaryMetric, 'cosine_ndcg@10');
  assert.equal(Object.keys(r.metrics).length, Object.values(DEFAULT_KS).flat().length);
  // every relevant document is among the 3: recall@3 (and accuracy@3) must be 1
  close(r.metrics['cosine_recall@3'], 1, 'recall@3');
  close(r.metrics['cosine_accuracy@3'], 1, 'accuracy@3');
  for (const v of Object.values(r.metrics)) assert.ok(v >= 0 && v <= 1);
  agreeAcrossBackends('evaluateBinary / evaluateRetrieval metrics', backend, { ...b.metrics, ...r.metrics }, 1e-4);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  enc.dispose();
});
