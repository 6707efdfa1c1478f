/**
 * Kill -9 during `index add`: afterwards the folder must hold the old index or the new one,
 * never a broken one. Deterministic kills use the SBERT_FAULT_PAUSE hook (the process stops
 * at a named point inside the save and is killed there); timed kills hit whatever it is doing.
 * One backend (the default), not each of test/helpers/backends.ts: what is checked is the index
 * save, which runs after the embedding and is the same whichever backend embedded.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, runCli } from './helpers/cli.js';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { HnswIndex, embedInto, modelRef } from '../src/search/index.js';

let dir: string;
let base: string;
const OLD = 20;
const ADDED = 60;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sbert-crash-'));
  base = join(dir, 'base');
  await initBackend('auto', { quiet: true });
  const enc = builtinEncoder('tiny', 42);
  const index = HnswIndex.create(enc.dim, await modelRef('builtin:tiny', enc));
  await embedInto(index, enc, Array.from({ length: OLD }, (_, i) => ({ id: `old${i}`, text: `old sentence number ${i}` })), { progress: false });
  index.save(base);
  writeFileSync(join(dir, 'add.jsonl'), Array.from({ length: ADDED }, (_, i) => JSON.stringify({ id: `new${i}`, text: `a newly added sentence ${i}` })).join('\n') + '\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Run `index add` on a copy of the base index and SIGKILL it at a fault point or after a delay. */
function addAndKill(name: string, when: { point: string } | { afterMs: number } | { onStderr: RegExp }): Promise<string> {
  const target = join(dir, name);
  cpSync(base, target, { recursive: true });
  // Progress lines on (stderr is a pipe: plain lines), so a kill can wait for mid-embedding.
  const env = { ...process.env, SBERT_NO_PROGRESS: '0', ...('point' in when ? { SBERT_FAULT_PAUSE: when.point } : {}) };
  const child = spawn(process.execPath, [BIN, 'index', 'add', '--index', target, '--input', join(dir, 'add.jsonl'), '--text-column', 'text', '--id-column', 'id'], { env });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`${name}: never reached its kill point; stderr: ${stderr}`)), 60_000);
    const kill = () => child.kill('SIGKILL');
    if ('afterMs' in when) setTimeout(kill, when.afterMs);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if ('point' in when && stderr.includes(`fault-point: ${when.point}`)) kill();
      if ('onStderr' in when && when.onStderr.test(stderr)) kill();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!('afterMs' in when) && signal !== 'SIGKILL') reject(new Error(`${name}: exited ${code} before the fault point; stderr: ${stderr}`));
      else resolve(target);
    });
  });
}

/** `index info` and `search` must succeed; returns the item count. */
function checkUsable(target: string): number {
  const info = runCli(['index', 'info', '--index', target, '--json']);
  assert.equal(info.code, 0, `index info failed: ${info.stderr}`);
  const count = JSON.parse(info.stdout).count as number;
  const s = runCli(['search', '--index', target, 'old sentence number 3', '-k', '5', '--json']);
  assert.equal(s.code, 0, `search failed: ${s.stderr}`);
  const hits = JSON.parse(s.stdout).results as { id: string }[];
  assert.equal(hits.length, 5);
  assert.equal(hits[0].id, 'old3');
  return count;
}

for (const [point, expected] of [
  ['after-index-write', OLD],
  ['during-metadata-write', OLD],
  ['before-manifest-swap', OLD],
  ['after-manifest-swap', OLD + ADDED],
] as const) {
  test(`SIGKILL at ${point}: the index is ${expected === OLD ? 'the old' : 'the new'} one and usable`, async () => {
    const target = await addAndKill(point, { point });
    assert.equal(checkUsable(target), expected);
  });
}

test('SIGKILL during start-up and mid-embedding: the old index, usable', async () => {
  for (const [name, when] of [
    ['early', { afterMs: 300 }],
    ['embedding', { onStderr: /embedding: ([1-9]|[1-5]\d)\/60 / }],
  ] as const) {
    const target = await addAndKill(name, when);
    assert.equal(checkUsable(target), OLD, name);
  }
});

test('after a kill, the stale lock and leftover files do not block the next add', async () => {
  const target = await addAndKill('relock', { point: 'before-manifest-swap' });
  assert.ok(existsSync(join(target, '.lock')));
  const r = runCli(['index', 'add', '--index', target, '--input', join(dir, 'add.jsonl'), '--text-column', 'text', '--id-column', 'id']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(checkUsable(target), OLD + ADDED);
});
