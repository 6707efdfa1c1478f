/**
 * A failed index write must never be committed. hnswlib's C++ writer does not report a short
 * write, so with a file-size limit (EFBIG; Node ignores SIGXFSZ) or a full disk (ENOSPC)
 * `index add` / `index build` used to exit 0 and commit a truncated graph that no search could
 * load. Here the real CLI runs in a child process under `prlimit --fsize` (and, as root where
 * mount works, on a small tmpfs): each failure must be one line, exit 2, leave the previous
 * generation current and searchable exactly as before, and leave no file of the failed
 * generation, no manifest temp file and no lock behind.
 *
 * Also: arguments and targets are refused before any embedding runs, with one line.
 *
 * One backend (the default), not each of test/helpers/backends.ts: the failures are in the
 * index writes, after the embedding, and the refusals come before any backend starts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, isOneLineUserError, runCli, type CliResult } from './helpers/cli.js';
import { main } from '../src/cli/main.js';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { DataError } from '../src/errors.js';
import { HnswIndex, embedInto, hnswFileProblem, inspectIndex, modelRef, readManifest, type Manifest } from '../src/search/index.js';

let dir: string;
/** An index of OLD items (generation 1), copied for every run. */
let base: string;
let baseManifest: Manifest;
/** Query vectors (stored vectors of a few old items) and what they find in the base index. */
let queries: Float32Array[];
let baseHits: string[][];
/** ADDED new items; `wideFile` holds the same with a wide extra column. */
let addFile: string;
let wideFile: string;
const OLD = 20;
const ADDED = 60;
/** A wide extra column makes the metadata file larger than the graph, so a limit can cut the metadata only. */
const PAYLOAD = 'p'.repeat(1500);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sbert-write-safety-'));
  base = join(dir, 'base');
  await initBackend('auto', { quiet: true });
  const enc = builtinEncoder('tiny', 42);
  const index = HnswIndex.create(enc.dim, await modelRef('builtin:tiny', enc));
  await embedInto(index, enc, Array.from({ length: OLD }, (_, i) => ({ id: `old${i}`, text: `old sentence number ${i}` })), { progress: false });
  index.save(base);
  baseManifest = readManifest(base);
  queries = [0, 7, 13].map((l) => index.vector(l));
  baseHits = searchIds(base);
  const rows = Array.from({ length: ADDED }, (_, i) => ({ id: `new${i}`, text: `a newly added sentence ${i} about ${['cats', 'trains', 'music'][i % 3]}` }));
  addFile = join(dir, 'add.jsonl');
  writeFileSync(addFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  wideFile = join(dir, 'wide.jsonl');
  writeFileSync(wideFile, rows.map((r) => JSON.stringify({ ...r, payload: PAYLOAD })).join('\n') + '\n');
});

after(() => rmSync(dir, { recursive: true, force: true }));

function searchIds(indexDir: string): string[][] {
  const index = HnswIndex.load(indexDir);
  return queries.map((q) => index.search(q, 5).map((h) => h.id));
}

const addArgs = (target: string) => ['index', 'add', '--index', target, '--input', addFile, '--text-column', 'text', '--id-column', 'id'];
const buildArgsFor = (input: string) => (out: string, ...more: string[]) => ['index', 'build', '--model', 'builtin:tiny', '--input', input, '--text-column', 'text', '--id-column', 'id', '--out', out, ...more];
const buildArgs = (out: string, ...more: string[]) => buildArgsFor(addFile)(out, ...more);
const buildWideArgs = (out: string, ...more: string[]) => buildArgsFor(wideFile)(out, ...more);

const HAVE_PRLIMIT = spawnSync('prlimit', ['--version']).status === 0;

/** The CLI in a child process whose files may not grow past `bytes` (RLIMIT_FSIZE). */
function runLimited(bytes: number, args: string[]): CliResult {
  const env = { ...process.env, SBERT_NO_PROGRESS: '1' };
  const r = HAVE_PRLIMIT
    ? spawnSync('prlimit', [`--fsize=${bytes}:${bytes}`, process.execPath, BIN, ...args], { encoding: 'utf8', env, timeout: 120_000 })
    : // bash counts ulimit -f in 1024-byte blocks: round down so the limit still falls short.
      spawnSync('bash', ['-c', `ulimit -f ${Math.max(1, Math.floor(bytes / 1024))} && exec "$@"`, 'bash', process.execPath, BIN, ...args], { encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The folder is exactly the base index: same files, same manifest, same search results. */
function assertUnchanged(target: string, what: string): void {
  assert.deepEqual(readdirSync(target).sort(), readdirSync(base).sort(), `${what}: files of the failed generation, a temp file or the lock left behind`);
  assert.deepEqual(readManifest(target), baseManifest, `${what}: the manifest changed`);
  assert.deepEqual(inspectIndex(target), baseManifest, `${what}: index info`);
  assert.deepEqual(searchIds(target), baseHits, `${what}: search results changed`);
}

const complete = new Map<string, { index: number; metadata: number }>();

/**
 * The file sizes of a complete generation, from a successful run (without a limit) of the
 * add (narrow corpus) or the build (wide corpus); run once. It also leaves tsx's compile cache warm for the limited runs.
 */
function completeSizes(kind: 'add' | 'build'): { index: number; metadata: number } {
  const known = complete.get(kind);
  if (known) return known;
  const target = join(dir, `${kind}-complete`);
  if (kind === 'add') cpSync(base, target, { recursive: true });
  const r = runCli(kind === 'add' ? addArgs(target) : buildWideArgs(target));
  assert.equal(r.code, 0, r.stderr);
  const m = readManifest(target);
  const sizes = { index: m.files.index.bytes, metadata: m.files.metadata.bytes };
  complete.set(kind, sizes);
  return sizes;
}

test('index add under a file-size limit (EFBIG): one line naming the file, exit 2, the old generation current and unchanged', () => {
  const full = completeSizes('add');
  assert.ok(full.metadata < full.index / 2, 'test setup: the metadata must fit under the limits that cut the graph');
  const limits: [number, RegExp][] = [
    [full.index - 8, /index\.2\.\w+\.hnsw/], // inside the upper-level links, 8 bytes short (was committed, exit 0)
    [50, /index\.2\.\w+\.hnsw/], // inside the header
    [Math.floor(full.index / 2), /index\.2\.\w+\.hnsw/], // inside level 0
  ];
  for (const [bytes, file] of limits) {
    const target = join(dir, `add-fsize-${bytes}`);
    cpSync(base, target, { recursive: true });
    const r = runLimited(bytes, addArgs(target));
    assert.ok(isOneLineUserError(r), `--fsize=${bytes}: expected a one-line error, exit 2; got ${r.code}: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /added/, `--fsize=${bytes}`);
    if (HAVE_PRLIMIT) assert.match(r.stderr, new RegExp(`^sbert-train: cannot write \\S*${file.source}: .*\\(EFBIG\\)$`, 'm'), `--fsize=${bytes}`);
    assertUnchanged(target, `--fsize=${bytes}`);
  }
  // As a user sees it afterwards (index info is inspectIndex, checked above): the CLI search works.
  const s = runCli(['search', '--index', join(dir, `add-fsize-${full.index - 8}`), 'old sentence number 3', '-k', '3', '--json']);
  assert.equal(s.code, 0, s.stderr);
  assert.equal(JSON.parse(s.stdout).results[0].id, 'old3');
});

test('index build under a file-size limit: nothing committed; a fresh folder is not left behind, --force keeps the old index', () => {
  // The narrow corpus: the graph (60 items) is cut, the metadata fits.
  const out = join(dir, 'build-fsize');
  const r = runLimited(Math.floor(completeSizes('add').index / 2), buildArgs(out));
  assert.ok(isOneLineUserError(r), `fresh: got ${r.code}: ${r.stdout}${r.stderr}`);
  if (HAVE_PRLIMIT) assert.match(r.stderr, /cannot write \S*index\.1\.\w+\.hnsw: .*\(EFBIG\)/);
  assert.ok(!existsSync(out), `the folder made for the failed build is still there: ${existsSync(out) ? readdirSync(out) : ''}`);
  // --force over an index, the wide corpus: the graph fits, the metadata is cut; the old index stays.
  const full = completeSizes('build');
  assert.ok(full.metadata > full.index + 1000, `test setup: metadata (${full.metadata}) must be larger than the graph (${full.index})`);
  const target = join(dir, 'build-force');
  cpSync(base, target, { recursive: true });
  const f = runLimited(full.index + 100, buildWideArgs(target, '--force'));
  assert.ok(isOneLineUserError(f), `--force: got ${f.code}: ${f.stdout}${f.stderr}`);
  if (HAVE_PRLIMIT) assert.match(f.stderr, /cannot write \S*items\.2\.\w+\.jsonl: .*\(EFBIG\)/);
  assertUnchanged(target, 'build --force');
});

/** Mount a tmpfs of `size` at a new folder, or say why not. */
function mountTmpfs(size: string): { path: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'not root: cannot mount a small tmpfs' };
  const path = mkdtempSync(join(tmpdir(), 'sbert-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(path, { recursive: true, force: true });
    return { skip: `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}` };
  }
  return { path };
}

test('index add / build on a full disk (tmpfs, ENOSPC): the old generation stays, nothing of the failed one remains', (t) => {
  const mnt = mountTmpfs('4m');
  if ('skip' in mnt) {
    console.log(`# skipping the ENOSPC part: ${mnt.skip}`);
    t.skip(mnt.skip);
    return;
  }
  try {
    const add = completeSizes('add');
    const build = completeSizes('build');
    const page = statfsSync(mnt.path).bsize;
    const pages = (bytes: number) => Math.ceil(bytes / page) * page;
    // Free space for the lock (one page), then for part of what the write needs: each case
    // runs out in another file (tmpfs counts whole pages).
    const cases: [string, number, (target: string) => string[], boolean, RegExp][] = [
      ['add, graph cut', page + pages(add.index / 2), addArgs, false, /index\.2\.\w+\.hnsw/],
      ['add, no room for the manifest', page + pages(add.index) + pages(add.metadata), addArgs, false, /manifest\.json/],
      ['build, metadata cut', page + pages(build.index) + pages(build.metadata / 2), (o) => buildWideArgs(o), true, /items\.1\.\w+\.jsonl/],
    ];
    for (const [what, free, args, fresh, file] of cases) {
      for (const f of readdirSync(mnt.path)) rmSync(join(mnt.path, f), { recursive: true, force: true });
      const target = join(mnt.path, 'idx');
      if (!fresh) cpSync(base, target, { recursive: true });
      const s = statfsSync(mnt.path);
      const filler = s.bavail * s.bsize - free;
      assert.ok(filler >= 0, `${what}: tmpfs too small`);
      writeFileSync(join(mnt.path, 'filler'), Buffer.alloc(filler));
      const r = runCli(args(target));
      assert.ok(isOneLineUserError(r), `${what}: got ${r.code}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^sbert-train: cannot write \\S*/idx/${file.source}: no space left on the device \\(ENOSPC\\)$`, 'm'), what);
      if (fresh) assert.ok(!existsSync(target), `${what}: the folder made for the failed build is still there`);
      else assertUnchanged(target, what);
    }
  } finally {
    spawnSync('umount', [mnt.path]);
    rmSync(mnt.path, { recursive: true, force: true });
  }
});

// ---- the layout check itself ------------------------------------------------------------

test('hnswFileProblem: a whole hnswlib file passes; cut anywhere it is incomplete; wrong count or shape is named', () => {
  const m = baseManifest;
  const bytes = readFileSync(join(base, m.files.index.name));
  const expect = { count: OLD, dim: m.dim, M: m.params.M };
  assert.equal(hnswFileProblem(bytes, expect), null);
  const level0End = 96 + OLD * ((2 * m.params.M * 4 + 4) + m.dim * 4 + 8);
  for (const cut of [0, 50, 95, 96, 1000, level0End - 1, level0End, level0End + 3, bytes.length - 1]) {
    const p = hnswFileProblem(bytes.subarray(0, cut), expect);
    assert.ok(p?.incomplete, `cut at ${cut}: ${JSON.stringify(p)}`);
  }
  assert.deepEqual(hnswFileProblem(Buffer.concat([bytes, Buffer.alloc(4)]), expect), { problem: '4 bytes after the last element', incomplete: false });
  assert.match(hnswFileProblem(bytes, { ...expect, count: OLD + 1 })?.problem ?? '', /holds 20 elements, expected 21/);
  assert.match(hnswFileProblem(bytes, { ...expect, dim: 64 })?.problem ?? '', /bytes per element, expected .* for dimension 64/);
  assert.match(hnswFileProblem(bytes, { ...expect, M: 16 })?.problem ?? '', /expected M=16/);
});

test('index info no longer says "files verified" for a committed truncated graph (what the old writer left)', () => {
  const target = join(dir, 'committed-truncated');
  cpSync(base, target, { recursive: true });
  const m = readManifest(target);
  const file = join(target, m.files.index.name);
  truncateSync(file, m.files.index.bytes - 100);
  const bytes = readFileSync(file);
  // The manifest agrees with the short file, as when the short write itself was committed.
  writeFileSync(join(target, 'manifest.json'), JSON.stringify({ ...m, files: { ...m.files, index: { ...m.files.index, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } } }, null, 2));
  assert.throws(() => inspectIndex(target), (e) => e instanceof DataError && /index file is damaged \(ends after \d+ bytes/.test((e as Error).message));
  assert.throws(() => HnswIndex.load(target), (e) => e instanceof DataError && /damaged/.test((e as Error).message));
});

// ---- refused before any embedding -----------------------------------------------------

/**
 * The CLI in this process (fast: no child process), with progress lines on. Text written to
 * stdout / stderr is captured; binary writes pass through (under `node --test` they are the
 * runner's own messages, which must not be swallowed).
 */
async function cli(args: string[]): Promise<CliResult> {
  const saved = process.env.SBERT_NO_PROGRESS;
  process.env.SBERT_NO_PROGRESS = '0';
  const out: string[] = [];
  const err: string[] = [];
  const originals = { out: process.stdout.write, err: process.stderr.write };
  const capture = (stream: NodeJS.WriteStream, into: string[]) =>
    ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? (into.push(chunk), true) : (stream === process.stdout ? originals.out : originals.err).call(stream, chunk, ...rest))) as typeof process.stdout.write;
  process.stdout.write = capture(process.stdout, out);
  process.stderr.write = capture(process.stderr, err);
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = originals.out;
    process.stderr.write = originals.err;
    if (saved === undefined) delete process.env.SBERT_NO_PROGRESS;
    else process.env.SBERT_NO_PROGRESS = saved;
  }
}

/** A one-line user error printed before the backend started (so before the model and any embedding). */
function assertRefusedEarly(r: CliResult, pattern: RegExp, what: string): void {
  assert.ok(isOneLineUserError(r), `${what}: got ${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, pattern, what);
  assert.doesNotMatch(r.stderr, /^(backend:|embedding)/m, `${what}: the model was loaded or texts embedded before refusing`);
}

test('bad --batch-size, --M, --ef-construction, --ef, --target-recall, -k: one line with the range, before any work', async () => {
  const out = join(dir, 'never');
  const cases: [string[], RegExp][] = [
    [buildArgs(out, '--batch-size', '0'), /--batch-size must be a positive integer, got 0/],
    [buildArgs(out, '--batch-size', '2.5'), /--batch-size must be a positive integer, got 2.5/],
    [buildArgs(out, '--ef', '1e12'), /--ef must be an integer from 1 to 100000, got 1000000000000/],
    [buildArgs(out, '--ef', '0'), /--ef must be an integer from 1 to 100000, got 0/],
    [buildArgs(out, '--M', '1'), /--M must be an integer from 2 to 200, got 1/],
    [buildArgs(out, '--M', '1e9'), /--M must be an integer from 2 to 200/],
    [buildArgs(out, '--ef-construction', '1e7'), /--ef-construction must be an integer from 1 to 10000, got 10000000/],
    [buildArgs(out, '--ef-construction', 'abc'), /--ef-construction must be an integer from 1 to 10000, got NaN/],
    [buildArgs(out, '--target-recall', '2'), /--target-recall must be in \(0, 1\], got 2/],
    [[...addArgs(base), '--batch-size', '0'], /--batch-size must be a positive integer, got 0/],
    [['search', '--index', base, 'cat', '-k', '0'], /-k must be an integer from 1 to 10000, got 0/],
    [['search', '--index', base, 'cat', '-k', '1e9'], /-k must be an integer from 1 to 10000/],
    [['search', '--index', base, 'cat', '--ef', '1e12'], /--ef must be an integer from 1 to 100000/],
  ];
  for (const [args, pattern] of cases) assertRefusedEarly(await cli(args), pattern, args.slice(-2).join(' '));
  assert.ok(!existsSync(out));
  assert.deepEqual(readManifest(base), baseManifest);
});

test('build into an index folder (no --force) or a non-empty folder, add with ids already there: refused before embedding', async () => {
  const notIndex = join(dir, 'not-an-index');
  mkdirSync(notIndex, { recursive: true });
  writeFileSync(join(notIndex, 'notes.txt'), 'mine\n');
  const fileTarget = join(dir, 'a-file');
  writeFileSync(fileTarget, 'x');
  assertRefusedEarly(await cli(buildArgs(base)), /already holds an index; pass --force/, 'build into an index');
  assertRefusedEarly(await cli(buildArgs(notIndex)), /not-an-index is not empty and holds no index/, 'build into a non-empty folder');
  assertRefusedEarly(await cli(buildArgs(fileTarget)), /a-file is a file, not a folder/, 'build into a file');
  assert.deepEqual(readdirSync(notIndex), ['notes.txt']);

  const target = join(dir, 'dup-ids');
  cpSync(base, target, { recursive: true });
  const clash = join(dir, 'clash.jsonl');
  writeFileSync(clash, [{ id: 'brand-new', text: 'fresh text' }, { id: 'old4', text: 'clashes with an indexed id' }].map((o) => JSON.stringify(o)).join('\n') + '\n');
  assertRefusedEarly(await cli(['index', 'add', '--index', target, '--input', clash, '--text-column', 'text', '--id-column', 'id']), /id 'old4' is already in the index/, 'add an indexed id');
  const twice = join(dir, 'twice.jsonl');
  writeFileSync(twice, [{ id: 'n1', text: 'one' }, { id: 'n1', text: 'again' }].map((o) => JSON.stringify(o)).join('\n') + '\n');
  assertRefusedEarly(await cli(['index', 'add', '--index', target, '--input', twice, '--text-column', 'text', '--id-column', 'id']), /duplicate id 'n1'/, 'an id twice in the input');
  // A removed id keeps its label, so it cannot come back either; say so rather than "already in".
  const rm = await cli(['index', 'remove', '--index', target, '--ids', 'old5']);
  assert.equal(rm.code, 0, rm.stderr);
  writeFileSync(clash, JSON.stringify({ id: 'old5', text: 'back again' }) + '\n');
  assertRefusedEarly(await cli(['index', 'add', '--index', target, '--input', clash, '--text-column', 'text', '--id-column', 'id']), /id 'old5' was removed from the index and cannot be used again/, 'add a removed id');
  assert.ok(!existsSync(join(target, '.lock')));
});
