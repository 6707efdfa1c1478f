import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { HnswIndex, inspectIndex } from '../src/search/hnsw-index.js';
import { exactSearch, recallAtK, rowNorms } from '../src/search/exact.js';
import { DataError, UserError } from '../src/errors.js';

const MODEL = { path: 'test:random', weightsHash: 'abc123' };

function randomVectors(n: number, dim: number, seed: string): Float32Array[] {
  const rng = seedrandom(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => rng() * 2 - 1));
}

function items(n: number, offset = 0) {
  return Array.from({ length: n }, (_, i) => ({ id: `item-${i + offset}`, text: `text ${i + offset}`, fields: { n: i + offset } }));
}

const tmp = () => mkdtempSync(join(tmpdir(), 'sbert-index-'));

test('HNSW search matches exact cosine search on random vectors (recall@10 >= 0.99 at the default ef)', () => {
  const data = randomVectors(3000, 24, 'data');
  const queries = randomVectors(50, 24, 'queries');
  const index = HnswIndex.create(24, MODEL);
  index.add(data, items(3000));
  const norms = rowNorms(data);
  const approx = queries.map((q) => index.search(q, 10).map((h) => h.label));
  const exact = queries.map((q) => exactSearch(data, q, 10, { norms }).map((h) => h.index));
  const recall = recallAtK(approx, exact, 10);
  assert.ok(recall >= 0.99, `recall@10 ${recall}`);
  // Scores are cosine similarities: compare with the exact ones for the best hit.
  const h = index.search(queries[0], 1)[0];
  const e = exactSearch(data, queries[0], 1, { norms })[0];
  assert.equal(h.label, e.index);
  assert.ok(Math.abs(h.score - e.score) < 1e-5, `${h.score} vs ${e.score}`);
  assert.equal(h.id, `item-${e.index}`);
  assert.deepEqual(h.fields, { n: e.index });
});

test('capacity grows past the initial size; count, total and ids are kept', () => {
  const index = HnswIndex.create(8, MODEL, {}, 10);
  const before = index.capacity;
  const data = randomVectors(before + 5, 8, 'grow');
  index.add(data, items(before + 5));
  assert.ok(index.capacity >= before + 5);
  assert.equal(index.count, before + 5);
  assert.equal(index.search(data[before + 4], 1)[0].id, `item-${before + 4}`);
});

test('remove marks items deleted: searches skip them, count drops, unknown ids are reported', () => {
  const data = randomVectors(200, 8, 'rm');
  const index = HnswIndex.create(8, MODEL);
  index.add(data, items(200));
  assert.equal(index.search(data[7], 1)[0].id, 'item-7');
  const r = index.remove(['item-7', 'nope', 'item-7']);
  assert.deepEqual(r, { removed: ['item-7'], missing: ['nope', 'item-7'] });
  assert.equal(index.count, 199);
  assert.equal(index.total, 200);
  assert.ok(!index.search(data[7], 199).some((h) => h.id === 'item-7'));
  assert.equal(index.search(data[7], 500).length, 199);
});

test('duplicate ids and wrong dimensions are refused before anything is added', () => {
  const index = HnswIndex.create(4, MODEL);
  index.add(randomVectors(2, 4, 'a'), items(2));
  assert.throws(() => index.add(randomVectors(1, 4, 'b'), [{ id: 'item-0', text: 'x' }]), DataError);
  assert.throws(() => index.add(randomVectors(2, 4, 'b'), [{ id: 'x', text: 'x' }, { id: 'x', text: 'y' }]), DataError);
  assert.throws(() => index.add(randomVectors(1, 5, 'c'), [{ id: 'y', text: 'y' }]), DataError);
  assert.equal(index.count, 2);
  assert.throws(() => index.search(new Float32Array(3), 1), UserError);
  assert.throws(() => HnswIndex.create(4, MODEL, { M: 0 }), UserError);
});

test('save then load gives the same results; each save is a new generation and old files go', () => {
  const dir = tmp();
  try {
    const data = randomVectors(300, 16, 'save');
    const index = HnswIndex.create(16, MODEL, { M: 8, efConstruction: 50, ef: 40 });
    index.add(data, items(300));
    index.remove(['item-3']);
    index.save(dir);
    const loaded = HnswIndex.load(dir);
    assert.equal(loaded.count, 299);
    assert.deepEqual(loaded.params, { M: 8, efConstruction: 50, ef: 40 });
    assert.deepEqual(loaded.model, MODEL);
    const q = randomVectors(5, 16, 'q');
    for (const v of q) assert.deepEqual(loaded.search(v, 5), index.search(v, 5));
    const m1 = inspectIndex(dir);
    loaded.add(randomVectors(10, 16, 'more'), items(10, 300));
    loaded.save(dir);
    const m2 = inspectIndex(dir);
    assert.equal(m2.generation, m1.generation + 1);
    assert.equal(m2.count, 309);
    // The previous generation is kept for readers that opened it; older ones are removed.
    loaded.save(dir);
    const files = readdirSync(dir).filter((f) => f !== 'manifest.json');
    assert.equal(files.length, 4, files.join(', '));
    // A fresh index cannot silently replace an existing one.
    assert.throws(() => HnswIndex.create(16, MODEL).save(dir), /already holds an index/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged index, metadata or manifest file is a one-line DataError, never a crash', () => {
  const dir = tmp();
  try {
    const index = HnswIndex.create(8, MODEL);
    index.add(randomVectors(50, 8, 'dmg'), items(50));
    index.save(dir);
    const m = inspectIndex(dir);
    const manifest = readFileSync(join(dir, 'manifest.json'), 'utf8');
    const idx = readFileSync(join(dir, m.files.index.name));
    const meta = readFileSync(join(dir, m.files.metadata.name));
    const expectDataError = (what: string, pattern: RegExp) => {
      assert.throws(
        () => HnswIndex.load(dir),
        (e: unknown) => e instanceof DataError && pattern.test(e.message) && !e.message.includes('\n'),
        what,
      );
    };
    truncateSync(join(dir, m.files.index.name), idx.length - 100);
    expectDataError('truncated index', /truncated or corrupted/);
    const flipped = Buffer.from(idx);
    flipped[200] ^= 0xff;
    writeFileSync(join(dir, m.files.index.name), flipped);
    expectDataError('flipped byte in index', /checksum/);
    writeFileSync(join(dir, m.files.index.name), idx);
    writeFileSync(join(dir, m.files.metadata.name), meta.subarray(0, meta.length - 1));
    expectDataError('truncated metadata', /metadata/);
    writeFileSync(join(dir, m.files.metadata.name), meta);
    writeFileSync(join(dir, 'manifest.json'), manifest.slice(0, 100));
    expectDataError('truncated manifest', /corrupted manifest/);
    writeFileSync(join(dir, 'manifest.json'), manifest.replace('"dim": 8', '"dim": "eight"'));
    expectDataError('wrong field type', /dim/);
    writeFileSync(join(dir, 'manifest.json'), manifest);
    rmSync(join(dir, m.files.metadata.name));
    expectDataError('missing file', /missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('calibrateEf picks the smallest ladder ef whose held-out recall reaches halfway to 1, and records it', async () => {
  const { calibrateEf, holdOutCount } = await import('../src/search/calibrate.js');
  assert.equal(holdOutCount(999), 0);
  assert.equal(holdOutCount(2000), 100);
  assert.equal(holdOutCount(1_000_000), 200);
  const data = randomVectors(2000, 32, 'calib');
  const held = randomVectors(100, 32, 'calib-held');
  const index = HnswIndex.create(32, MODEL, { M: 4, efConstruction: 16 });
  index.add(data, items(2000));
  const ladder = [10, 12, 16, 24, 40, 80, 160, 320, 640];
  const c = calibrateEf(index, held, { target: 0.9, ladder });
  assert.equal(c.aim, 0.95);
  assert.equal(index.params.ef, c.ef);
  const norms = rowNorms(data);
  const exact = held.map((q) => exactSearch(data, q, 10, { norms }).map((h) => h.index));
  const recallAt = (ef: number) => recallAtK(held.map((q) => index.search(q, 10, ef).map((h) => h.label)), exact, 10);
  assert.equal(c.recall, recallAt(c.ef));
  assert.ok(c.reached && c.recall >= 0.95, JSON.stringify(c));
  const i = ladder.indexOf(c.ef);
  assert.ok(i > 0, `a weak graph (M 4) should need more than the smallest ef: ${JSON.stringify(c)}`);
  assert.ok(recallAt(ladder[i - 1]) < 0.95);
  assert.deepEqual(index.manifest().calibration, c);
  // An unreachable target keeps the largest ef and says so.
  const low = calibrateEf(index, held, { target: 1, ladder: [10, 11] });
  assert.equal(low.ef, 11);
  assert.equal(low.reached, low.recall >= 1);
});
