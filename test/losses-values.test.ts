/**
 * Every loss against values computed by hand or from its formula with plain numbers (no tf):
 * the doc-comment examples, then random small batches against a plain-JS transcription of
 * the sentence-transformers definitions.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { createLoss } from '../src/losses/index.js';
import { hardPairMasks } from '../src/losses/online-contrastive.js';

before(async () => {
  await initBackend('cpu', { quiet: true });
});

type Vec = number[];

/** Run a loss on plain arrays and return the number; also checks nothing leaks. */
function run(name: string, cols: Vec[][], labels: number[] | null, params: Record<string, unknown> = {}): number {
  const before = tf.memory().numTensors;
  const loss = createLoss(name, params);
  const embs = cols.map((c) => tf.tensor2d(c));
  const lab = labels ? tf.tensor1d(labels) : null;
  const out = loss.lossFromEmbeddings(embs, lab);
  assert.deepEqual(out.shape, []);
  const v = out.dataSync()[0];
  tf.dispose([out, ...embs, ...(lab ? [lab] : [])]);
  assert.equal(tf.memory().numTensors, before, `${name} leaked tensors`);
  return v;
}

function near(actual: number, expected: number, tol = 1e-5): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} vs expected ${expected}`);
}

// ---- plain-number references ----
const dotp = (a: Vec, b: Vec) => a.reduce((s, x, i) => s + x * b[i], 0);
const cos = (a: Vec, b: Vec) => dotp(a, b) / (Math.sqrt(dotp(a, a)) * Math.sqrt(dotp(b, b)));
const euc = (a: Vec, b: Vec) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i] + 1e-6) ** 2, 0));
const man = (a: Vec, b: Vec) => a.reduce((s, x, i) => s + Math.abs(x - b[i] + 1e-6), 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const relu = (x: number) => Math.max(0, x);
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}
function matrix(r: () => number, n: number, d: number): Vec[] {
  return Array.from({ length: n }, () => Array.from({ length: d }, r));
}

describe('doc-comment examples (by hand)', () => {
  test('cosine_mse: orthogonal pair with label 1 -> 1', () => near(run('cosine_mse', [[[1, 0]], [[0, 1]]], [1]), 1));
  test('angular_mse: orthogonal pair (angular 0.5) with label 1 -> 0.25', () => near(run('angular_mse', [[[1, 0]], [[0, 1]]], [1]), 0.25, 1e-4));
  test('contrastive: negative pair at cos 0.8 -> 0.5 * 0.3^2 = 0.045', () => {
    // u = [1, 0], v = [0.8, 0.6] has cos 0.8
    near(run('contrastive', [[[1, 0]], [[0.8, 0.6]]], [0]), 0.045);
  });
  test('contrastive: positive pair at cos 0.8 -> 0.5 * 0.2^2 = 0.02; sum vs mean', () => {
    near(run('contrastive', [[[1, 0]], [[0.8, 0.6]]], [1]), 0.02);
    // two pairs: 0.02 (pos) and 0.045 (neg): mean 0.0325, sum 0.065
    near(run('contrastive', [[[1, 0], [1, 0]], [[0.8, 0.6], [0.8, 0.6]]], [1, 0]), 0.0325);
    near(run('contrastive', [[[1, 0], [1, 0]], [[0.8, 0.6], [0.8, 0.6]]], [1, 0], { sizeAverage: false }), 0.065);
  });
  test('online_contrastive: d = [0.1+, 0.4+, 0.3-, 0.6-] -> 0.4^2 + 0.2^2 = 0.2', () => {
    // rows of v at cos 0.9, 0.6, 0.7, 0.4 with u = [1, 0]
    const c = [0.9, 0.6, 0.7, 0.4];
    const v = c.map((x) => [x, Math.sqrt(1 - x * x)]);
    near(run('online_contrastive', [[[1, 0], [1, 0], [1, 0], [1, 0]], v], [1, 1, 0, 0]), 0.2, 1e-4);
  });
  test('multiple_negatives_ranking: identity cos matrix -> log(1 + e^-20)', () => {
    near(run('multiple_negatives_ranking', [[[1, 0], [0, 1]], [[2, 0], [0, 3]]], null), Math.log1p(Math.exp(-20)), 1e-3);
    // one anchor, its positive (cos 1) and a hard negative (cos 0): log(e^20 + e^0) - 20
    near(run('multiple_negatives_ranking', [[[1, 0]], [[1, 0]], [[0, 1]]], null), Math.log(1 + Math.exp(-20)), 1e-3);
  });
  test('cosent: cos [0.5, 0.2], labels [1, 0] -> log(1 + e^-6)', () => {
    const v = [0.5, 0.2].map((x) => [x, Math.sqrt(1 - x * x)]);
    near(run('cosent', [[[1, 0], [1, 0]], v], [1, 0]), Math.log1p(Math.exp(-6)), 1e-4);
    // wrongly ordered: labels [0, 1] -> log(1 + e^6)
    near(run('cosent', [[[1, 0], [1, 0]], v], [0, 1]), Math.log1p(Math.exp(6)), 1e-4);
    // equal labels: no ordered pair -> log(1) = 0
    near(run('cosent', [[[1, 0], [1, 0]], v], [2, 2]), 0, 1e-6);
  });
  test('multiple_negatives_symmetric_ranking: the doc example (scale 1) -> (fwd 0.5178 + bwd 0.5557) / 2', () => {
    const lse2 = (a: number, b: number) => Math.log(Math.exp(a) + Math.exp(b));
    const fwd = (lse2(0.6, 0) - 0.6 + lse2(0.8, 1) - 1) / 2;
    const bwd = (lse2(0.6, 0.8) - 0.6 + lse2(0, 1) - 1) / 2;
    near(run('multiple_negatives_symmetric_ranking', [[[1, 0], [0, 1]], [[0.6, 0.8], [0, 1]]], null, { scale: 1 }), (fwd + bwd) / 2);
    near((fwd + bwd) / 2, 0.5368, 1e-4);
  });
  test('angle: u=[1,0] against v=[1,1] (angle sim 0, label 1) and v=[1,0] (sim 1, label 0) -> log(1 + e^20)', () => {
    near(run('angle', [[[1, 0], [1, 0]], [[1, 1], [1, 0]]], [1, 0]), Math.log1p(Math.exp(20)), 1e-4);
    // correctly ordered: labels [0, 1] -> log(1 + e^-20)
    near(run('angle', [[[1, 0], [1, 0]], [[1, 1], [1, 0]]], [0, 1]), Math.log1p(Math.exp(-20)), 1e-6);
  });
  test('triplet: a=[0,0], p=[3,0], n=[0,4], margin 5 -> 4; far negative -> 0', () => {
    near(run('triplet', [[[0, 0]], [[3, 0]], [[0, 4]]], null), 4, 1e-5);
    near(run('triplet', [[[0, 0]], [[3, 0]], [[0, 9]]], null), 0, 1e-6);
  });
});

describe('random batches vs plain-number formulas', () => {
  const r = rand(7);
  const n = 5;
  const d = 4;
  const U = matrix(r, n, d);
  const V = matrix(r, n, d);
  const W = matrix(r, n, d);
  const X = matrix(r, n, d);
  const Y = matrix(r, n, d);
  const scores = [0.9, 0.1, 0.5, 0.3, 0.75];
  const binary = [1, 0, 1, 0, 1];

  test('cosine_mse = mean (cos - y)^2', () => {
    near(run('cosine_mse', [U, V], scores), mean(U.map((u, i) => (cos(u, V[i]) - scores[i]) ** 2)));
  });
  test('angular_mse = mean (1 - acos(cos)/pi - y)^2', () => {
    near(run('angular_mse', [U, V], scores), mean(U.map((u, i) => (1 - Math.acos(cos(u, V[i])) / Math.PI - scores[i]) ** 2)), 1e-4);
  });
  for (const [distance, f] of [
    ['cosine', (a: Vec, b: Vec) => 1 - cos(a, b)],
    ['euclidean', euc],
    ['manhattan', man],
  ] as const) {
    test(`contrastive (${distance}, margin 2) = mean 0.5 (y d^2 + (1-y) relu(m-d)^2)`, () => {
      const m = 2;
      const want = mean(U.map((u, i) => 0.5 * (binary[i] * f(u, V[i]) ** 2 + (1 - binary[i]) * relu(m - f(u, V[i])) ** 2)));
      near(run('contrastive', [U, V], binary, { margin: m, distance }), want);
    });
    test(`triplet (${distance}, margin 1) = mean relu(d(a,p) - d(a,n) + m)`, () => {
      near(run('triplet', [U, V, W], null, { margin: 1, distance }), mean(U.map((u, i) => relu(f(u, V[i]) - f(u, W[i]) + 1))));
    });
  }
  test('online_contrastive = sum hard positives d^2 + hard negatives relu(m-d)^2', () => {
    const dist = U.map((u, i) => 1 - cos(u, V[i]));
    const pos = dist.filter((_, i) => binary[i] === 1);
    const neg = dist.filter((_, i) => binary[i] === 0);
    const hardNeg = neg.filter((x) => x < Math.max(...pos));
    const hardPos = pos.filter((x) => x > Math.min(...neg));
    const want = hardPos.reduce((s, x) => s + x * x, 0) + hardNeg.reduce((s, x) => s + relu(0.5 - x) ** 2, 0);
    near(run('online_contrastive', [U, V], binary), want);
  });
  test('multiple_negatives_ranking (2, 3 and 5 columns) = mean cross-entropy over 20*cos', () => {
    const ce = (cands: Vec[]) => mean(U.map((u, i) => lse(cands.map((c) => 20 * cos(u, c))) - 20 * cos(u, cands[i])));
    near(run('multiple_negatives_ranking', [U, V], null), ce(V), 1e-4);
    near(run('multiple_negatives_ranking', [U, V, W], null), ce([...V, ...W]), 1e-4);
    // (anchor, positive, negative_1, negative_2, negative_3): every negative column adds n candidates
    near(run('multiple_negatives_ranking', [U, V, W, X, Y], null), ce([...V, ...W, ...X, ...Y]), 1e-4);
    assert.ok(Math.abs(run('multiple_negatives_ranking', [U, V, W, X, Y], null) - ce([...V, ...W])) > 1e-2, 'the extra negatives change the loss');
    near(run('multiple_negatives_ranking', [U, V], null, { scale: 5 }), mean(U.map((u, i) => lse(V.map((c) => 5 * cos(u, c))) - 5 * cos(u, V[i]))), 1e-4);
  });
  test('cosent = log(1 + sum_{y_i<y_j} exp(20 (cos_i - cos_j)))', () => {
    const s = U.map((u, i) => 20 * cos(u, V[i]));
    const terms = [0];
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (scores[i] < scores[j]) terms.push(s[i] - s[j]);
    near(run('cosent', [U, V], scores), lse(terms), 1e-4);
  });
  test('multiple_negatives_symmetric_ranking (2 and 3 columns) = mean of the anchor->candidates and positive->anchors cross-entropies', () => {
    const ce = (queries: Vec[], cands: Vec[], s: number) => mean(queries.map((q, i) => lse(cands.map((c) => s * cos(q, c))) - s * cos(q, cands[i])));
    near(run('multiple_negatives_symmetric_ranking', [U, V], null), (ce(U, V, 20) + ce(V, U, 20)) / 2, 1e-4);
    near(run('multiple_negatives_symmetric_ranking', [U, V, W], null), (ce(U, [...V, ...W], 20) + ce(V, U, 20)) / 2, 1e-4);
    near(run('multiple_negatives_symmetric_ranking', [U, V], null, { scale: 3 }), (ce(U, V, 3) + ce(V, U, 3)) / 2, 1e-4);
  });
  test('angle = cosent on |Σ (a c + b d + b c - a d)| / (|x| |y|), halves a, b of x and c, d of y (odd widths padded with 0)', () => {
    const angleSim = (x: Vec, y: Vec) => {
      const h = Math.ceil(x.length / 2);
      const at = (v: Vec, i: number) => (i < v.length ? v[i] : 0);
      let s = 0;
      for (let k = 0; k < h; k++) {
        const [a, b, c, d] = [at(x, k), at(x, h + k), at(y, k), at(y, h + k)];
        s += a * c + b * d + b * c - a * d;
      }
      return Math.abs(s) / (Math.sqrt(dotp(x, x)) * Math.sqrt(dotp(y, y)));
    };
    const cosentOn = (sim: (x: Vec, y: Vec) => number, A: Vec[], B: Vec[], scale: number) => {
      const s = A.map((u, i) => scale * sim(u, B[i]));
      const terms = [0];
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (scores[i] < scores[j]) terms.push(s[i] - s[j]);
      return lse(terms);
    };
    near(run('angle', [U, V], scores), cosentOn(angleSim, U, V, 20), 1e-4);
    near(run('angle', [U, V], scores, { scale: 7 }), cosentOn(angleSim, U, V, 7), 1e-4);
    const odd = (M: Vec[]) => M.map((v) => v.slice(0, 3));
    near(run('angle', [odd(U), odd(V)], scores), cosentOn(angleSim, odd(U), odd(V), 20), 1e-4);
    // not the cosine: the same batch under cosent differs
    assert.ok(Math.abs(run('angle', [U, V], scores) - run('cosent', [U, V], scores)) > 1e-3);
  });
  test('labels are not needed by unlabelled losses (ignored if given)', () => {
    near(run('triplet', [U, V, W], scores), run('triplet', [U, V, W], null));
  });
});

describe('online_contrastive hard-pair selection', () => {
  const hardPairs = (d: number[], y: number[]) => {
    const before = tf.memory().numTensors;
    const dt = tf.tensor1d(d);
    const yt = tf.tensor1d(y);
    const m = hardPairMasks(dt, yt);
    const out = { pos: Array.from(m.pos.dataSync()), neg: Array.from(m.neg.dataSync()) };
    for (const t of [dt, yt, m.pos, m.neg]) t.dispose();
    assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
    return out;
  };
  test('thresholds follow sentence-transformers, including the single-element fallbacks', () => {
    // one positive: negatives below mean(N) = 0.5 are hard; three negatives: the positive is
    // hard when farther than min(N) = 0.1
    const m = hardPairs([0.2, 0.1, 0.5, 0.9], [1, 0, 0, 0]);
    assert.deepEqual([...m.pos], [1, 0, 0, 0]);
    assert.deepEqual([...m.neg], [0, 1, 0, 0]);
    // labels other than 0/1 are in neither set; one negative -> positives above mean(P) = 0.55
    const m2 = hardPairs([0.9, 0.1, 0.5, 0.2], [1, 0, 0.5, 1]);
    assert.deepEqual([...m2.pos], [1, 0, 0, 0]);
    assert.deepEqual([...m2.neg], [0, 1, 0, 0]);
  });
  test('no negatives at all: no hard negatives, positives above their mean', () => {
    const m = hardPairs([0.3, 0.4], [1, 1]);
    assert.deepEqual([...m.neg], [0, 0]);
    // |N| <= 1 -> positives above mean(P) = 0.35 are hard
    assert.deepEqual([...m.pos], [0, 1]);
  });
});
