import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exactSearch, recallAtK, rowNorms } from '../src/search/exact.js';

// Rows chosen so the cosines with the query [1, 0] are easy to work out by hand.
const rows = [
  [1, 0], // cos 1
  [0, 1], // cos 0
  [-1, 0], // cos -1
  [1, 1], // cos 1/sqrt(2)
  [3, 4], // cos 3/5
  [2, 0], // cos 1 (same direction as row 0: a tie, broken by lower index)
];

test('exact search ranks by cosine, best first, with hand-computed scores', () => {
  const hits = exactSearch(rows, [1, 0], 6);
  assert.deepEqual(
    hits.map((h) => h.index),
    [0, 5, 3, 4, 1, 2],
  );
  const expected = [1, 1, Math.SQRT1_2, 0.6, 0, -1];
  hits.forEach((h, i) => assert.ok(Math.abs(h.score - expected[i]) < 1e-12, `${h.score} vs ${expected[i]}`));
});

test('ties are broken by the lower row index, whatever the order rows arrive in the heap', () => {
  const tied = [[0, 1], [1, 0], [2, 0], [0.5, 0], [1, 0]];
  assert.deepEqual(
    exactSearch(tied, [1, 0], 2).map((h) => h.index),
    [1, 2],
  );
  assert.deepEqual(
    exactSearch(tied, [1, 0], 4).map((h) => h.index),
    [1, 2, 3, 4],
  );
});

test('k larger than the corpus returns every row; k = 0 returns none', () => {
  assert.equal(exactSearch(rows, [0, 1], 100).length, rows.length);
  assert.deepEqual(exactSearch(rows, [0, 1], 0), []);
  assert.throws(() => exactSearch(rows, [0, 1], -1), RangeError);
  assert.throws(() => exactSearch(rows, [0, 1], 1.5), RangeError);
});

test('top-k equals a full sort of a random corpus (heap keeps exactly the best k)', () => {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const data = Array.from({ length: 500 }, () => Float32Array.from({ length: 16 }, rnd));
  const q = Float32Array.from({ length: 16 }, rnd);
  const norms = rowNorms(data);
  const all = data
    .map((v, i) => {
      let d = 0;
      for (let j = 0; j < 16; j++) d += v[j] * q[j];
      let qn = 0;
      for (let j = 0; j < 16; j++) qn += q[j] * q[j];
      return { index: i, score: d / (norms[i] * Math.sqrt(qn)) };
    })
    .sort((a, b) => b.score - a.score || a.index - b.index);
  assert.deepEqual(
    exactSearch(data, q, 25, { norms }).map((h) => h.index),
    all.slice(0, 25).map((h) => h.index),
  );
});

test('skip leaves rows out (deleted items)', () => {
  assert.deepEqual(
    exactSearch(rows, [1, 0], 2, { skip: (i) => i === 0 }).map((h) => h.index),
    [5, 3],
  );
});

test('a zero vector scores 0 instead of NaN; a dimension mismatch throws', () => {
  const hits = exactSearch([[0, 0], [1, 0]], [1, 0], 2);
  assert.deepEqual(hits.map((h) => [h.index, h.score]), [[1, 1], [0, 0]]);
  assert.throws(() => exactSearch([[1, 0, 0]], [1, 0], 1), RangeError);
});

test('recall@k counts the share of the exact top-k that the approximate search found', () => {
  assert.equal(recallAtK([[1, 2, 3]], [[1, 2, 3]], 3), 1);
  assert.equal(recallAtK([[1, 2, 9]], [[1, 2, 3]], 3), 2 / 3);
  // Two queries: 2/2 and 0/2 found -> 0.5; only the first k of each list count.
  assert.equal(recallAtK([[5, 6, 7], [8, 9, 1]], [[6, 5, 0], [1, 2, 8]], 2), 0.5);
  assert.throws(() => recallAtK([[1]], [], 1), RangeError);
});
