/**
 * Batching and validation splits: deterministic from (seed, epoch), every example exactly
 * once, and with noDuplicates no text twice in a batch (NoDuplicatesBatchSampler behaviour).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeBatches } from '../src/data/batching.js';
import { validationSplit } from '../src/data/split.js';
import { DataError } from '../src/errors.js';

const ex = (n: number) => Array.from({ length: n }, (_, i) => ({ texts: [`q${i}`, `p${i}`], id: i }));
const ids = (batches: { id: number }[][]) => batches.map((b) => b.map((e) => e.id));

describe('makeBatches', () => {
  test('no shuffle: file order, last batch short unless dropLast', () => {
    assert.deepEqual(ids(makeBatches(ex(5), 2, { shuffle: false })), [[0, 1], [2, 3], [4]]);
    assert.deepEqual(ids(makeBatches(ex(5), 2, { shuffle: false, dropLast: true })), [[0, 1], [2, 3]]);
  });
  test('shuffle is a permutation, the same for the same (seed, epoch), different across epochs and seeds', () => {
    const a = ids(makeBatches(ex(50), 8, { seed: 1, epoch: 0 })).flat();
    assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(ids(makeBatches(ex(50), 8, { seed: 1, epoch: 0 })).flat(), a);
    assert.notDeepEqual(ids(makeBatches(ex(50), 8, { seed: 1, epoch: 1 })).flat(), a);
    assert.notDeepEqual(ids(makeBatches(ex(50), 8, { seed: 2, epoch: 0 })).flat(), a);
  });
  test('noDuplicates postpones a clashing example to a later batch', () => {
    // 0 and 1 share the anchor "x": 1 waits; 2 takes its place
    const data = [
      { texts: ['x', 'a'], id: 0 },
      { texts: ['x', 'b'], id: 1 },
      { texts: ['y', 'c'], id: 2 },
      { texts: ['z', 'd'], id: 3 },
    ];
    assert.deepEqual(ids(makeBatches(data, 2, { shuffle: false, noDuplicates: true })), [[0, 2], [1, 3]]);
    // a text shared across columns counts too ("a" as positive of 0 and anchor of 1)
    const cross = [
      { texts: ['x', 'a'], id: 0 },
      { texts: ['a', 'b'], id: 1 },
      { texts: ['y', 'c'], id: 2 },
    ];
    assert.deepEqual(ids(makeBatches(cross, 2, { shuffle: false, noDuplicates: true })), [[0, 2], [1]]);
  });
  test('noDuplicates on shuffled data with many repeats: every example once, no text twice in a batch', () => {
    const data = Array.from({ length: 200 }, (_, i) => ({ texts: [`anchor${i % 23}`, `pos${i % 37}`], id: i }));
    const batches = makeBatches(data, 8, { seed: 3, epoch: 2, noDuplicates: true });
    assert.deepEqual(ids(batches).flat().sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
    for (const b of batches) {
      const texts = b.flatMap((e) => e.texts);
      assert.equal(new Set(texts).size, texts.length, `duplicate text in batch ${JSON.stringify(texts)}`);
    }
    // most batches are full: postponing does not fragment the epoch
    assert.ok(batches.filter((b) => b.length === 8).length >= 20);
    // deterministic
    assert.deepEqual(ids(makeBatches(data, 8, { seed: 3, epoch: 2, noDuplicates: true })), ids(batches));
  });
  test('noDuplicates + dropLast: only full batches', () => {
    const data = [
      { texts: ['x', 'a'], id: 0 },
      { texts: ['x', 'b'], id: 1 },
      { texts: ['x', 'c'], id: 2 },
    ];
    assert.deepEqual(ids(makeBatches(data, 2, { shuffle: false, noDuplicates: true, dropLast: true })), []);
    assert.deepEqual(ids(makeBatches(data, 2, { shuffle: false, noDuplicates: true })), [[0], [1], [2]]);
  });
  test('invalid batch size', () => {
    assert.throws(() => makeBatches(ex(3), 0), DataError);
    assert.throws(() => makeBatches(ex(3), 1.5), DataError);
  });
});

describe('validationSplit', () => {
  test('sizes, disjoint, order kept, deterministic from the seed', () => {
    const data = Array.from({ length: 100 }, (_, i) => i);
    const a = validationSplit(data, 0.2, 7);
    assert.equal(a.dev.length, 20);
    assert.equal(a.train.length, 80);
    assert.deepEqual([...a.train, ...a.dev].sort((x, y) => x - y), data);
    assert.deepEqual(a.dev, [...a.dev].sort((x, y) => x - y));
    assert.deepEqual(validationSplit(data, 0.2, 7), a);
    assert.notDeepEqual(validationSplit(data, 0.2, 8).dev, a.dev);
  });
  test('fractions that leave nothing on one side are errors', () => {
    assert.throws(() => validationSplit([1, 2, 3], 0.1, 1), /leaves no dev examples/);
    assert.throws(() => validationSplit([1, 2], 0.9, 1), /leaves no training examples/);
    assert.throws(() => validationSplit([1, 2], 0, 1), DataError);
  });
});
