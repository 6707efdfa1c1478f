/**
 * Loss gradients (tfjs autodiff) against central finite differences of the same loss in
 * float32, for every loss; plus registry, parameter and input errors, and leak checks.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { createLoss, LOSS_NAMES } from '../src/losses/index.js';
import { ConfigError } from '../src/errors.js';
import { values } from './helpers/values.js';

before(async () => {
  await initBackend('cpu', { quiet: true });
});

const N = 4;
const D = 3;
const CASES: { name: string; cols: number; labels: number[] | null; params?: Record<string, unknown> }[] = [
  { name: 'cosine_mse', cols: 2, labels: [0.9, 0.1, 0.5, 0.3] },
  { name: 'angular_mse', cols: 2, labels: [0.9, 0.1, 0.5, 0.3] },
  { name: 'contrastive', cols: 2, labels: [1, 0, 1, 0], params: { margin: 1.5 } },
  { name: 'contrastive', cols: 2, labels: [1, 0, 1, 0], params: { margin: 3, distance: 'euclidean' } },
  { name: 'online_contrastive', cols: 2, labels: [1, 0, 1, 0], params: { margin: 1.5 } },
  { name: 'multiple_negatives_ranking', cols: 2, labels: null, params: { scale: 5 } },
  { name: 'multiple_negatives_ranking', cols: 3, labels: null },
  { name: 'multiple_negatives_ranking', cols: 5, labels: null },
  { name: 'cosent', cols: 2, labels: [0.9, 0.1, 0.5, 0.3] },
  { name: 'angle', cols: 2, labels: [0.9, 0.1, 0.5, 0.3] },
  { name: 'multiple_negatives_symmetric_ranking', cols: 2, labels: null, params: { scale: 5 } },
  { name: 'multiple_negatives_symmetric_ranking', cols: 3, labels: null },
  { name: 'triplet', cols: 3, labels: null, params: { margin: 1 } },
  { name: 'triplet', cols: 3, labels: null, params: { margin: 1, distance: 'cosine' } },
];

describe('gradients match central finite differences', () => {
  for (const c of CASES) {
    test(`${c.name} ${JSON.stringify(c.params ?? {})} (${c.cols} columns)`, () => {
      const loss = createLoss(c.name, c.params);
      const base = Array.from({ length: c.cols }, (_, k) => values(N * D, 11 + 17 * k));
      const labels = c.labels ? tf.tensor1d(c.labels) : null;
      const f = (arrs: Float32Array[]) =>
        tf.tidy(() => loss.lossFromEmbeddings(arrs.map((a) => tf.tensor2d(a, [N, D])), labels).dataSync()[0]);
      const before = tf.memory().numTensors;
      const xs = base.map((a) => tf.tensor2d(a, [N, D]));
      const grads = tf.grads((...e: tf.Tensor[]) => loss.lossFromEmbeddings(e as tf.Tensor2D[], labels))(xs);
      const analytic = grads.map((g) => g.dataSync());
      tf.dispose([...grads, ...xs]);
      assert.equal(tf.memory().numTensors, before, 'gradient computation leaked tensors');

      const h = 1e-2;
      let worst = 0;
      for (let k = 0; k < c.cols; k++) {
        for (let i = 0; i < N * D; i++) {
          const plus = base.map((a) => a.slice());
          const minus = base.map((a) => a.slice());
          plus[k][i] += h;
          minus[k][i] -= h;
          const numeric = (f(plus) - f(minus)) / (2 * h);
          const diff = Math.abs(numeric - analytic[k][i]);
          worst = Math.max(worst, diff);
          assert.ok(diff <= 3e-3 + 3e-2 * Math.abs(numeric), `d loss / d emb[${k}][${i}]: autodiff ${analytic[k][i]} vs numeric ${numeric}`);
        }
      }
      // a gradient of all zeros would pass trivially on a flat loss: make sure it is not flat
      assert.ok(analytic.some((g) => g.some((v) => Math.abs(v) > 1e-4)), 'gradient is all zero');
      labels?.dispose();
      assert.ok(Number.isFinite(worst));
    });
  }
});

describe('registry and parameters', () => {
  test('LOSS_NAMES lists the nine losses', () => {
    assert.deepEqual([...LOSS_NAMES].sort(), ['angle', 'angular_mse', 'contrastive', 'cosent', 'cosine_mse', 'multiple_negatives_ranking', 'multiple_negatives_symmetric_ranking', 'online_contrastive', 'triplet']);
  });
  test('unknown loss name -> ConfigError listing the valid names', () => {
    assert.throws(() => createLoss('cosine'), (e: unknown) => e instanceof ConfigError && /valid: .*cosine_mse.*triplet/.test(e.message) && !e.message.includes('\n'));
    assert.throws(() => createLoss('toString'), ConfigError);
  });
  test('defaults follow sentence-transformers', () => {
    assert.deepEqual(createLoss('contrastive').params, { margin: 0.5, distance: 'cosine', sizeAverage: true });
    assert.deepEqual(createLoss('online_contrastive').params, { margin: 0.5, distance: 'cosine' });
    assert.deepEqual(createLoss('multiple_negatives_ranking').params, { scale: 20 });
    assert.deepEqual(createLoss('cosent').params, { scale: 20 });
    assert.deepEqual(createLoss('triplet').params, { margin: 5, distance: 'euclidean' });
  });
  test('null parameters mean the default (recipe nullable fields)', () => {
    assert.deepEqual(createLoss('triplet', { margin: null, scale: null, distance: null }).params, { margin: 5, distance: 'euclidean' });
  });
  test('bad parameters are all reported with dotted paths', () => {
    assert.throws(
      () => createLoss('contrastive', { margin: -1, distance: 'chebyshev', scale: 3 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 3 &&
        e.problems.some((p) => p.startsWith('loss.margin: must be > 0')) &&
        e.problems.some((p) => p.startsWith('loss.distance: must be one of cosine, euclidean, manhattan')) &&
        e.problems.some((p) => p.startsWith('loss.scale: unknown parameter for contrastive')),
    );
  });
  test('columns / needsLabel describe each loss', () => {
    const shape = (n: string) => {
      const l = createLoss(n);
      return [l.columns, l.maxColumns, l.needsLabel];
    };
    assert.deepEqual(shape('cosine_mse'), [2, 2, true]);
    assert.deepEqual(shape('multiple_negatives_ranking'), [2, 66, false]);
    assert.deepEqual(shape('multiple_negatives_symmetric_ranking'), [2, 3, false]);
    assert.deepEqual(shape('triplet'), [3, 3, false]);
  });
});

describe('invalid inputs', () => {
  const e2 = () => [tf.zeros([2, 3]) as tf.Tensor2D, tf.ones([2, 3]) as tf.Tensor2D];
  test('wrong column count -> ConfigError naming the loss', () => {
    const embs = e2();
    assert.throws(() => createLoss('triplet').lossFromEmbeddings(embs, null), /loss triplet: needs 3 text columns per example, got 2/);
    assert.throws(() => createLoss('multiple_negatives_ranking').lossFromEmbeddings([embs[0]], null), /needs 2-66 text columns per example, got 1/);
    assert.throws(() => createLoss('multiple_negatives_ranking').lossFromEmbeddings(Array(67).fill(embs[0]), null), /needs 2-66 text columns per example, got 67/);
    assert.throws(() => createLoss('multiple_negatives_symmetric_ranking').lossFromEmbeddings([...embs, embs[0], embs[1]], null), /needs 2-3 text columns per example, got 4/);
    tf.dispose(embs);
  });
  test('missing labels -> ConfigError', () => {
    const embs = e2();
    assert.throws(() => createLoss('cosent').lossFromEmbeddings(embs, null), (e: unknown) => e instanceof ConfigError && /needs a score\/label column/.test(e.message));
    tf.dispose(embs);
  });
  test('mismatched shapes -> error naming the shapes', () => {
    const a = tf.zeros([2, 3]) as tf.Tensor2D;
    const b = tf.zeros([3, 3]) as tf.Tensor2D;
    const y = tf.tensor1d([1, 0, 1]);
    assert.throws(() => createLoss('cosine_mse').lossFromEmbeddings([a, b], y), /embeddings\[1\] has shape \[3, 3\], expected \[2, 3\]/);
    assert.throws(() => createLoss('cosine_mse').lossFromEmbeddings([a, a], y), /labels must be \[2\], got shape \[3\]/);
    tf.dispose([a, b, y]);
  });
  test('no tensors leak from the losses (forward)', () => {
    const before = tf.memory().numTensors;
    for (const c of CASES) {
      const embs = Array.from({ length: c.cols }, (_, k) => tf.tensor2d(values(N * D, 3 + k), [N, D]));
      const y = c.labels ? tf.tensor1d(c.labels) : null;
      const out = createLoss(c.name, c.params).lossFromEmbeddings(embs, y);
      assert.ok(Number.isFinite(out.dataSync()[0]));
      tf.dispose([out, ...embs, ...(y ? [y] : [])]);
    }
    assert.equal(tf.memory().numTensors, before);
  });
});
