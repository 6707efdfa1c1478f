/**
 * `index build / add / remove / info` and `search` as a user runs them. What embeds (building,
 * adding, searching) runs on each backend of test/helpers/backends.ts, one index per backend;
 * what does not depend on the backend runs once, on the default one: reading an index (info,
 * damaged files), refusing another model or bad build input before any embedding, a txt
 * corpus's ids, and ef calibration (HNSW recall over whatever vectors were stored).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, isOneLineUserError } from './helpers/cli.js';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { agreeAcrossBackends, TEST_BACKENDS } from './helpers/backends.js';

let dir: string;
/** The index of `texts` built on each backend. */
const indexes = new Map<string, string>();
/** The first backend's, for the tests that run once. */
let idx: string;
/** The CLI on `backend`. */
const on = (backend: string, args: string[]) => runCli([...args, '--backend', backend]);
const texts = ['the cat sat on the mat', 'dogs are loyal animals', 'quantum physics is hard', 'I love pizza', 'stock markets fell today', 'a recipe for bread'];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sbert-search-cli-'));
  writeFileSync(join(dir, 'corpus.csv'), 'key,sentence,topic\n' + texts.map((t, i) => `k${i},"${t}",t${i % 2}`).join('\n') + '\n');
  writeFileSync(join(dir, 'more.jsonl'), JSON.stringify({ key: 'k9', sentence: 'the weather is sunny', topic: 'w' }) + '\n');
  writeFileSync(join(dir, 'queries.txt'), 'I love pizza\n\nstock markets fell today\n');
  // A model folder with other weights (seed 7) and one with another dimension (64).
  await initBackend('auto', { quiet: true });
  await builtinEncoder('tiny', 7).save(join(dir, 'tiny-seed7'));
  await builtinEncoder({ hiddenSize: 64, numHeads: 4, intermediateSize: 128 }, 1).save(join(dir, 'dim64'));
  for (const backend of TEST_BACKENDS) {
    const out = join(dir, `idx-${backend}`);
    const r = on(backend, ['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'corpus.csv'), '--text-column', 'sentence', '--id-column', 'key', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /indexed 6 items/);
    indexes.set(backend, out);
  }
  idx = indexes.get(TEST_BACKENDS[0])!;
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('index info reports count, dimension, params and the model with its weights hash', async () => {
  const r = runCli(['index', 'info', '--index', idx, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.equal(m.count, 6);
  assert.equal(m.dim, 128);
  assert.equal(m.model.path, 'builtin:tiny');
  assert.equal(m.model.weightsHash, await builtinEncoder('tiny', 42).weightsHash());
  assert.equal(m.library.name, 'hnswlib-node');
  assert.deepEqual(Object.keys(m.params).sort(), ['M', 'ef', 'efConstruction']);
  const h = runCli(['index', 'info', '--index', idx]);
  assert.match(h.stdout, /items:\s+6 \(0 deleted/);
});

for (const backend of TEST_BACKENDS) test(`search finds an exact copy of a corpus text first, with similarity ~1, and keeps extra columns (${backend})`, () => {
  const idx = indexes.get(backend)!;
  const r = on(backend, ['search', '--index', idx, 'quantum physics is hard', '-k', '3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.results.length, 3);
  assert.equal(out.results[0].id, 'k2');
  assert.ok(Math.abs(out.results[0].score - 1) < 1e-4, String(out.results[0].score));
  assert.deepEqual(out.results[0].fields, { topic: 't0' });
  assert.ok(out.results[0].score >= out.results[1].score && out.results[1].score >= out.results[2].score);
  agreeAcrossBackends('search scores, best first', backend, out.results.map((h: { score: number }) => h.score), 1e-4);
  const text = on(backend, ['search', '--index', idx, 'I love pizza', '-k', '2']);
  assert.match(text.stdout, /1\. 1\.0000 {2}k3 {2}I love pizza/);
});

for (const backend of TEST_BACKENDS) test(`--queries runs every line of a file and prints one JSON line per query (${backend})`, () => {
  const r = on(backend, ['search', '--index', indexes.get(backend)!, '--queries', join(dir, 'queries.txt'), '-k', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => [l.query, l.results[0].id]),
    [['I love pizza', 'k3'], ['stock markets fell today', 'k4']],
  );
});

test('a different model (other weights or dimension) is refused with a one-line error', () => {
  const seed7 = runCli(['search', '--index', idx, 'cat', '--model', join(dir, 'tiny-seed7')]);
  assert.ok(isOneLineUserError(seed7), seed7.stderr);
  assert.match(seed7.stderr, /not the one the index .* was built with/);
  const dim64 = runCli(['search', '--index', idx, 'cat', '--model', join(dir, 'dim64')]);
  assert.ok(isOneLineUserError(dim64), dim64.stderr);
  assert.match(dim64.stderr, /64-dimensional .* 128-dimensional/);
});

for (const backend of TEST_BACKENDS) test(`index add grows the index, index remove hides items; a duplicate id is a user error (${backend})`, () => {
  const idx = indexes.get(backend)!;
  const add = on(backend, ['index', 'add', '--index', idx, '--input', join(dir, 'more.jsonl'), '--text-column', 'sentence', '--id-column', 'key']);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /now holds 7/);
  const found = JSON.parse(on(backend, ['search', '--index', idx, 'the weather is sunny', '-k', '1', '--json']).stdout);
  assert.equal(found.results[0].id, 'k9');
  const dup = on(backend, ['index', 'add', '--index', idx, '--input', join(dir, 'more.jsonl'), '--text-column', 'sentence', '--id-column', 'key']);
  assert.ok(isOneLineUserError(dup), dup.stderr);
  assert.match(dup.stderr, /'k9' is already in the index/);
  const rm = runCli(['index', 'remove', '--index', idx, '--ids', 'k9', 'k3']);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /removed 2 items; .* now holds 5/);
  const after = JSON.parse(on(backend, ['search', '--index', idx, 'I love pizza', '-k', '10', '--json']).stdout);
  assert.equal(after.results.length, 5);
  assert.ok(!after.results.some((h: { id: string }) => h.id === 'k3' || h.id === 'k9'));
});

test('index build: an unknown --text-column or a folder that holds an index is a user error', () => {
  const noCol = runCli(['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'corpus.csv'), '--text-column', 'nope', '--out', join(dir, 'x')]);
  assert.ok(isOneLineUserError(noCol), noCol.stderr);
  assert.match(noCol.stderr, /column 'nope'.*key.*sentence.*topic/);
  const exists = runCli(['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'corpus.csv'), '--text-column', 'sentence', '--out', idx]);
  assert.ok(isOneLineUserError(exists), exists.stderr);
});

test('a txt corpus builds with row-number ids', () => {
  writeFileSync(join(dir, 'lines.txt'), 'alpha beta\ngamma delta\n');
  const out = join(dir, 'txt-idx');
  const r = runCli(['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'lines.txt'), '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(runCli(['search', '--index', out, 'gamma delta', '-k', '1', '--json']).stdout);
  assert.deepEqual([s.results[0].id, s.results[0].text], ['1', 'gamma delta']);
});

test('corrupted or truncated index, manifest or metadata: one-line error, exit 2', () => {
  const copy = join(dir, 'damaged');
  const r = runCli(['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'corpus.csv'), '--text-column', 'sentence', '--out', copy]);
  assert.equal(r.code, 0, r.stderr);
  const manifest = readFileSync(join(copy, 'manifest.json'), 'utf8');
  const m = JSON.parse(manifest);
  const indexFile = join(copy, m.files.index.name);
  const metaFile = join(copy, m.files.metadata.name);
  const indexBytes = readFileSync(indexFile);
  const metaBytes = readFileSync(metaFile);
  const check = (what: string, args: string[], pattern: RegExp) => {
    const res = runCli(args);
    assert.ok(isOneLineUserError(res), `${what}: ${res.code} ${res.stderr}`);
    assert.match(res.stderr, pattern, what);
  };
  truncateSync(indexFile, 40);
  check('truncated index', ['search', '--index', copy, 'cat'], /index file is 40 bytes/);
  writeFileSync(indexFile, indexBytes);
  writeFileSync(metaFile, metaBytes.toString('utf8').replace('"k1"', '"kX"'));
  check('edited metadata', ['index', 'info', '--index', copy], /metadata file checksum/);
  writeFileSync(metaFile, metaBytes);
  writeFileSync(join(copy, 'manifest.json'), manifest.slice(0, manifest.length / 2));
  check('truncated manifest', ['index', 'info', '--index', copy], /corrupted manifest/);
  writeFileSync(join(copy, 'manifest.json'), '');
  check('empty manifest', ['search', '--index', copy, 'cat'], /corrupted manifest/);
  check('not an index', ['search', '--index', dir, 'cat'], /not an index folder/);
});

test('index build calibrates ef on held-out items for >= 1000 texts, a large add re-calibrates; --ef turns that off', () => {
  const lines = Array.from({ length: 1200 }, (_, i) => `sentence ${i} about ${['cats', 'dogs', 'jobs', 'food'][i % 4]} and number ${i * 7}`);
  writeFileSync(join(dir, 'big.txt'), lines.join('\n') + '\n');
  const out = join(dir, 'big-idx');
  const r = runCli(['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'big.txt'), '--out', out, '--batch-size', '64']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /ef \d+ reaches recall@10 0\.98 \(measured [01]\.\d+ on 60 held-out items\)/);
  const m = JSON.parse(runCli(['index', 'info', '--index', out, '--json']).stdout);
  assert.equal(m.count, 1200);
  assert.equal(m.calibration.queries, 60);
  assert.equal(m.params.ef, m.calibration.ef);
  assert.ok(m.calibration.recall >= 0.99);
  // Held-out items were added after calibration: every text is findable.
  const s = JSON.parse(runCli(['search', '--index', out, lines[0], '-k', '1', '--json']).stdout);
  assert.equal(s.results[0].text, lines[0]);
  // A large enough add calibrates again, holding out a sample of the new items.
  writeFileSync(join(dir, 'more.txt'), Array.from({ length: 400 }, (_, i) => `added line ${i} on ${['trains', 'music'][i % 2]}`).join('\n') + '\n');
  const add = runCli(['index', 'add', '--index', out, '--input', join(dir, 'more.txt'), '--batch-size', '64']);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stderr, /on 80 held-out items/);
  const ma = JSON.parse(runCli(['index', 'info', '--index', out, '--json']).stdout);
  assert.equal(ma.count, 1600);
  assert.equal(ma.calibration.queries, 80);
  assert.equal(ma.params.ef, ma.calibration.ef);
  const fixed = runCli(['index', 'build', '--model', 'builtin:tiny', '--input', join(dir, 'big.txt'), '--out', join(dir, 'fixed-idx'), '--ef', '77', '--batch-size', '64']);
  assert.equal(fixed.code, 0, fixed.stderr);
  const mf = JSON.parse(runCli(['index', 'info', '--index', join(dir, 'fixed-idx'), '--json']).stdout);
  assert.equal(mf.params.ef, 77);
  assert.equal(mf.calibration, undefined);
});
