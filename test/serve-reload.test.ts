/**
 * A served index follows its folder: a generation committed by another writer (index add /
 * remove) is swapped in, while a damaged commit or one built by another model is reported
 * once and the index in service stays.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { HnswIndex, LiveIndex, checkEncoderMatches, createSearchServer, embedInto, listen, modelRef, readManifest } from '../src/search/index.js';

let dir: string;
let idx: string;
let server: Server;
let base: string;
let live: LiveIndex;
let encoder: ReturnType<typeof builtinEncoder>;
const logs: string[] = [];

before(async () => {
  await initBackend('auto', { quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'sbert-serve-reload-'));
  idx = join(dir, 'idx');
  encoder = builtinEncoder('tiny', 42);
  const index = HnswIndex.create(encoder.dim, await modelRef('builtin:tiny', encoder));
  const hash = await encoder.weightsHash();
  await embedInto(index, encoder, ['welder', 'baker', 'pharmacist'].map((text, i) => ({ id: `j${i}`, text })), { progress: false });
  index.save(idx);
  live = new LiveIndex(idx, HnswIndex.load(idx), { accept: (m) => checkEncoderMatches(m, encoder, hash, idx), log: (l) => logs.push(l) });
  server = createSearchServer({ index: live, encoder, log: () => {} });
  base = (await listen(server, 0)).url;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  encoder.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (path: string) => (await fetch(base + path)).json() as Promise<Record<string, unknown>>;
const top = async (q: string) => ((await get(`search?k=1&q=${encodeURIComponent(q)}`)).results as { id: string }[])[0].id;

test('a generation committed by index add / remove is served after the next check', async () => {
  assert.equal(live.refresh(), false, 'nothing changed yet');
  assert.deepEqual(await get('health'), { status: 'ok', count: 3 });

  const writer = HnswIndex.load(idx);
  await embedInto(writer, encoder, [{ id: 'z', text: 'zookeeper for the reptile house' }], { progress: false });
  writer.save(idx);
  assert.deepEqual(await get('health'), { status: 'ok', count: 3 }, 'served from memory until the check');
  assert.equal(live.refresh(), true);
  assert.deepEqual(await get('health'), { status: 'ok', count: 4 });
  assert.equal((await get('info')).generation, readManifest(idx).generation);
  assert.equal(await top('zookeeper for the reptile house'), 'z');

  writer.remove(['z']);
  writer.save(idx);
  assert.equal(live.refresh(), true);
  assert.deepEqual(await get('health'), { status: 'ok', count: 3 });
  assert.notEqual(await top('zookeeper for the reptile house'), 'z');
  assert.match(logs.join('\n'), /reloaded .* generation \d+, 3 items/);
});

test('a damaged commit and a foreign model are refused once; the served index stays', async () => {
  const servedGeneration = live.current.generationNumber;
  const writer = HnswIndex.load(idx);
  await embedInto(writer, encoder, [{ id: 'x', text: 'glassblower' }], { progress: false });
  writer.save(idx);
  truncateSync(join(idx, readManifest(idx).files.index.name), 100);
  logs.length = 0;
  assert.equal(live.refresh(), false);
  assert.equal(live.refresh(), false);
  assert.equal(logs.length, 1, logs.join('\n'));
  assert.match(logs[0], new RegExp(`keeping generation ${servedGeneration} of .*idx: .*index`));
  assert.deepEqual(await get('health'), { status: 'ok', count: 3 });

  const other = builtinEncoder('tiny', 7);
  const foreign = HnswIndex.create(other.dim, await modelRef('builtin:tiny', other));
  await embedInto(foreign, other, [{ id: 'f', text: 'falconer' }], { progress: false });
  foreign.save(idx, { overwrite: true });
  other.dispose();
  logs.length = 0;
  assert.equal(live.refresh(), false);
  assert.match(logs.join('\n'), /is not the one the index .* was built with/);
  assert.deepEqual(await get('health'), { status: 'ok', count: 3 });
  assert.equal(live.current.generationNumber, servedGeneration);
});
