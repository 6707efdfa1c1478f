/**
 * Stopping `sbert-train serve` the ways people try it: a signal to the server (SIGTERM,
 * SIGHUP: exit 0), and killing the process that started it (`npx sbert-train serve &` then
 * `kill $!` kills npm's wrapper, not the server): the server notices within a second or two
 * and lets go of its port.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './helpers/cli.js';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { HnswIndex, embedInto, modelRef } from '../src/search/index.js';

let dir: string;
let idx: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sbert-serve-stop-'));
  idx = join(dir, 'idx');
  await initBackend('cpu', { quiet: true });
  const enc = builtinEncoder('tiny', 42);
  const index = HnswIndex.create(enc.dim, await modelRef('builtin:tiny', enc));
  await embedInto(index, enc, ['welder', 'baker'].map((text, i) => ({ id: `j${i}`, text })), { progress: false });
  index.save(idx);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SERVE = [BIN, 'serve', '--index', '', '--port', '0', '--reload', '0', '--backend', 'cpu'];
const serveArgs = () => SERVE.map((a) => (a === '' ? idx : a));

/** Wait for "at http://127.0.0.1:PORT/" (and "pid N" from a wrapper) on the child's stdout. */
function started(child: ChildProcess, wrapped: boolean): Promise<{ port: number; pid: number }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${err}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      const p = wrapped ? /pid (\d+)/.exec(out) : [null, String(child.pid)];
      if (m && p) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), pid: Number(p[1]) });
      }
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Poll until the port refuses connections; the seconds it took, or null past `limitS`. */
async function closesWithin(port: number, limitS: number): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitS * 1000) {
    if (!(await portOpen(port))) return (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
  test(`${sig} to the server closes it and exits 0`, async () => {
    const child = spawn(process.execPath, serveArgs(), { env: { ...process.env, SBERT_NO_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const { port } = await started(child, false);
      assert.ok(await portOpen(port));
      const exited = new Promise<string>((resolve) => child.on('exit', (c, s) => resolve(`${c} ${s}`)));
      child.kill(sig);
      assert.equal(await exited, '0 null', stderr);
      assert.match(stderr, new RegExp(`serve: stopping \\(${sig}\\)`));
      assert.equal(await portOpen(port), false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}

for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
  test(`killing the wrapper that started it (${sig}, as kill $! after npx ... &) stops the server within a few seconds`, async () => {
    // A shell that starts the server in the background and waits, as npm's exec wrapper does.
    const quoted = [process.execPath, ...serveArgs()].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const wrapper = spawn('sh', ['-c', `${quoted} & echo "pid $!"; wait`], { env: { ...process.env, SBERT_NO_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let pid = 0;
    try {
      const s = await started(wrapper, true);
      pid = s.pid;
      assert.ok(await portOpen(s.port));
      const gone = new Promise((resolve) => wrapper.on('exit', resolve));
      wrapper.kill(sig);
      await gone;
      const took = await closesWithin(s.port, 6);
      assert.ok(took !== null, `port ${s.port} still open 6 s after the wrapper died`);
      for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(alive(pid), false, 'the server process is gone');
    } finally {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
}

test('--no-exit-with-parent keeps the server running after its parent dies (nohup, setsid)', async () => {
  const quoted = [process.execPath, ...serveArgs(), '--no-exit-with-parent'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const wrapper = spawn('sh', ['-c', `${quoted} & echo "pid $!"; wait`], { env: { ...process.env, SBERT_NO_PROGRESS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let pid = 0;
  try {
    const s = await started(wrapper, true);
    pid = s.pid;
    const gone = new Promise((resolve) => wrapper.on('exit', resolve));
    wrapper.kill('SIGKILL');
    await gone;
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok(alive(pid) && (await portOpen(s.port)), 'still serving');
    const exited = new Promise<void>((resolve) => {
      const t = setInterval(() => !alive(pid) && (clearInterval(t), resolve()), 100);
    });
    process.kill(pid, 'SIGTERM');
    await exited;
  } finally {
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
  }
});
