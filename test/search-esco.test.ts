/**
 * ESCO occupation labels embedded with a parity-fixture model (test/fixtures/parity/bert-mean,
 * made by benchmarks/peers/make_parity_fixtures.py; builtin:tiny while that fixture is absent):
 * the HNSW index returns the same top-10 as brute-force cosine over the same embeddings.
 * Skips when ../shared is absent. One backend (the default), not each of
 * test/helpers/backends.ts: HNSW and brute force are compared over the same vectors, whichever
 * backend made them (and 3000 labels embedded on each would cost a minute).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { ROOT, SHARED } from './helpers/cli.js';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder, loadEncoder } from '../src/models/index.js';
import { HnswIndex, exactSearch, modelRef, rowNorms } from '../src/search/index.js';

const skip = SHARED ? false : 'ESCO test skipped: ../shared (reference data) is absent';
if (skip) console.log(`# ${skip}`);
const FIXTURE_MODEL = join(ROOT, 'test', 'fixtures', 'parity', 'bert-mean');

test('ESCO labels: HNSW top-10 equals brute-force cosine top-10 over the same embeddings', { skip, timeout: 300_000 }, async () => {
  const rows = parse(readFileSync(join(SHARED!, 'datasets', 'esco', 'occupations_en.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
  const labels = rows.map((r) => r.preferredLabel);
  assert.ok(labels.length > 3000, `${labels.length} labels`);
  await initBackend('auto', { quiet: true });
  const fixture = existsSync(join(FIXTURE_MODEL, 'modules.json'));
  if (!fixture) console.log('# ESCO search: no parity-fixture model yet (benchmarks/peers/README.md); embedding with builtin:tiny');
  const encoder = fixture ? await loadEncoder(FIXTURE_MODEL) : builtinEncoder('tiny', 42);
  const vectors = await encoder.encode(labels, { normalize: true, batchSize: 64, progress: false });
  const index = HnswIndex.create(encoder.dim, await modelRef(fixture ? FIXTURE_MODEL : 'builtin:tiny', encoder), {}, labels.length);
  index.add(vectors, rows.map((r, i) => ({ id: r.conceptUri, text: labels[i] })));
  // Queries: free text plus alternative labels (not themselves in the index).
  const queryTexts = ['software developer', 'nurse in a hospital', 'truck driver', 'data scientist', 'chef de cuisine', 'primary school teacher'];
  for (const r of rows.slice(0, 600).filter((_, i) => i % 25 === 0)) queryTexts.push(r.altLabels.split('\n')[0] || r.preferredLabel);
  const queries = await encoder.encode(queryTexts, { normalize: true, progress: false });
  const norms = rowNorms(vectors);
  for (let q = 0; q < queries.length; q++) {
    const approx = index.search(queries[q], 10);
    const exact = exactSearch(vectors, queries[q], 11, { norms });
    const approxIds = approx.map((h) => h.label);
    const exactIds = exact.slice(0, 10).map((h) => h.index);
    // Identical sets; a swap at the 10th place is only allowed for an exact score tie
    // (float32 in hnswlib vs float64 here).
    const tie10 = Math.abs(exact[9].score - exact[10].score) < 1e-6;
    const diff = approxIds.filter((l) => !exactIds.includes(l));
    assert.ok(diff.length === 0 || (tie10 && diff.length === 1 && diff[0] === exact[10].index), `query '${queryTexts[q]}': ${approxIds} vs ${exactIds}`);
    // Same order and scores (up to float32 rounding).
    approx.forEach((h, i) => assert.ok(Math.abs(h.score - exact[i].score) < 1e-4, `query '${queryTexts[q]}' rank ${i}: ${h.score} vs ${exact[i].score}`));
  }
  encoder.dispose();
});
