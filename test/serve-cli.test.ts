/** `sbert-train serve` as a user runs it: a child process on a free loopback port. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, isOneLineUserError } from './helpers/cli.js';
import { startServe } from './helpers/serve.js';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { HnswIndex, embedInto, modelRef } from '../src/search/index.js';

let dir: string;
let idx: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sbert-serve-cli-'));
  idx = join(dir, 'idx');
  await initBackend('auto', { quiet: true });
  const enc = builtinEncoder('tiny', 42);
  const index = HnswIndex.create(enc.dim, await modelRef('builtin:tiny', enc));
  await embedInto(index, enc, ['welder', 'baker', 'pharmacist'].map((text, i) => ({ id: `j${i}`, text })), { progress: false });
  index.save(idx);
  await builtinEncoder('tiny', 9).save(join(dir, 'other'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('serve binds to 127.0.0.1 by default, answers the API, picks up index add, and stops cleanly on SIGTERM', async () => {
  const serve = startServe(['--index', idx, '--port', '0', '--reload', '0.2']);
  const { child } = serve;
  const url = await serve.url;
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.deepEqual(await (await fetch(`${url}health`)).json(), { status: 'ok', count: 3 });
    const r = await (await fetch(`${url}search?q=baker&k=1`)).json();
    assert.equal(r.results[0].id, 'j1');
    // Another process adds to the index while it is served.
    writeFileSync(join(dir, 'more.jsonl'), JSON.stringify({ id: 'j3', text: 'beekeeper' }) + '\n');
    const add = runCli(['index', 'add', '--index', idx, '--input', join(dir, 'more.jsonl'), '--text-column', 'text', '--id-column', 'id']);
    assert.equal(add.code, 0, add.stderr);
    let count = 0;
    for (let i = 0; i < 100 && count !== 4; i++) {
      await new Promise((res) => setTimeout(res, 100));
      count = ((await (await fetch(`${url}health`)).json()) as { count: number }).count;
    }
    assert.equal(count, 4, `the served index did not pick up index add; stderr: ${serve.stderr()}`);
    assert.equal((await (await fetch(`${url}search?q=beekeeper&k=1`)).json()).results[0].id, 'j3');
    assert.match(serve.stderr(), /reloaded .* 4 items/);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await serve.exited, 0, serve.stderr());
  }
});

test('serve refuses a model the index was not built with, and a bad port', () => {
  const r = runCli(['serve', '--index', idx, '--port', '0', '--model', join(dir, 'other')]);
  assert.ok(isOneLineUserError(r), r.stderr);
  const p = runCli(['serve', '--index', idx, '--port', '70000']);
  assert.ok(isOneLineUserError(p), p.stderr);
});
