/**
 * Fault injection through the real CLI: `sbert-train` (training with checkpoints and the model
 * save, `index build`, `index add`, `encode`) runs against a file system that fails at a write
 * part-way through, at 20 positions for each command:
 *
 *   ENOSPC  a small tmpfs, filled beforehand so that exactly N bytes are left (root only: the
 *           test mounts it; where mounting is not allowed this half is EFBIG instead, said so);
 *   EFBIG   the file-size limit (RLIMIT_FSIZE, `prlimit --fsize=N`): the first file that grows
 *           past N bytes fails there (Node ignores SIGXFSZ, so the write returns EFBIG).
 *
 * Positions are spread over what an uninterrupted run writes (one seeded-random position in
 * each twentieth of the range; SBERT_FAULT_SEED changes the draw). Every faulted run must exit
 * 2 with one line naming the failure and no stack trace, and afterwards the previous state
 * must be intact and usable: training resumed with --resume ends with the bit-identical model
 * of an uninterrupted run; an index that was being replaced or added to loads and searches with
 * exactly its old results; a previous encode output is byte-for-byte unchanged; no temp files
 * are left.
 *
 * One backend (the default), not each of test/helpers/backends.ts: the faults are in the file
 * writes every engine shares, and 20 positions per command on each backend would cost minutes;
 * kill -9 and resume on each engine is training-resume.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { BIN, ROOT } from './helpers/cli.js';
import { HnswIndex } from '../src/search/index.js';

const POSITIONS = 20;
const SEED = process.env.SBERT_FAULT_SEED ?? '9';
const PAIRS = join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv');

let work: string;
/** The tmpfs mount point (ENOSPC), or null where mounting is not allowed. */
let tmpfs: string | null = null;
const TMPFS_BYTES = 48 * 1024 * 1024;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Preloaded into the CLI to make the k-th JS write under a folder fail (see the file). */
const PRELOAD = join(ROOT, 'test', 'helpers', 'fault-preload.mjs');

function cli(args: string[], opts: { cwd?: string; fsize?: number; writeFault?: Record<string, string> } = {}): Promise<Run> {
  const node = opts.writeFault ? [process.execPath, '--import', PRELOAD, BIN] : [process.execPath, BIN];
  const [cmd, ...argv] = opts.fsize !== undefined ? ['prlimit', `--fsize=${opts.fsize}`, ...node, ...args] : [...node, ...args];
  const child = spawn(cmd, argv, { cwd: opts.cwd ?? work, env: { ...process.env, SBERT_NO_PROGRESS: '1', SBERT_QUIET_BACKEND: '1', ...opts.writeFault } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Exit 2, no stack trace, and the failure is one `sbert-train:` line, the last one printed. */
function assertOneLineFailure(r: Run, what: string): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  const errors = lines.filter((l) => l.startsWith('sbert-train: '));
  assert.equal(r.code, 2, `${what}: exit code ${r.code}; stderr:\n${r.stderr}`);
  assert.ok(!/\n\s+at \S/.test(r.stderr), `${what}: stack trace:\n${r.stderr}`);
  assert.equal(errors.length, 1, `${what}: expected one error line:\n${r.stderr}`);
  assert.equal(lines[lines.length - 1], errors[0], `${what}: the error line is not the last:\n${r.stderr}`);
  assert.match(errors[0], /(ENOSPC|EFBIG|no space|too large)/, `${what}: the line does not say what failed: ${errors[0]}`);
  assert.ok(!errors[0].includes('(unknown path)'), `${what}: the line does not name the file: ${errors[0]}`);
  return errors[0];
}

/** One seeded-random position inside each of `n` equal slices of [lo, hi). */
function positions(lo: number, hi: number, n: number, salt: string): number[] {
  const rng = seedrandom(`${SEED}:${salt}`);
  const w = (hi - lo) / n;
  return Array.from({ length: n }, (_, i) => Math.floor(lo + w * i + rng() * w));
}

/** Files (recursively) under dir, relative, sorted. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p, `${rel}${n}/`);
      else out.push(`${rel}${n}`);
    }
  };
  walk(dir, '');
  return out;
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const largestFile = (dir: string) => Math.max(...tree(dir).map((f) => statSync(join(dir, f)).size));
const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

/**
 * Lay out the faulty place for one position and return where to run plus how: on the tmpfs
 * with `n` bytes left (after `prepare` put the previous state there), or with a file-size limit.
 */
function faulty(kind: 'ENOSPC' | 'EFBIG', n: number, prepare: (dir: string) => void): { dir: string; fsize?: number; release: () => void } {
  if (kind === 'ENOSPC' && tmpfs) {
    for (const f of readdirSync(tmpfs)) rmSync(join(tmpfs, f), { recursive: true, force: true });
    const dir = join(tmpfs, 'w');
    mkdirSync(dir);
    prepare(dir);
    const fill = freeBytes(tmpfs) - n;
    if (fill > 0) writeFileSync(join(tmpfs, 'filler'), Buffer.alloc(fill));
    return { dir, release: () => rmSync(join(tmpfs!, 'filler'), { force: true }) };
  }
  const dir = mkdtempSync(join(work, 'efbig-'));
  prepare(dir);
  return { dir, fsize: n, release: () => {} };
}

/** Alternate the two kinds of fault over the positions (EFBIG only where no tmpfs). */
const kindAt = (i: number): 'ENOSPC' | 'EFBIG' => (tmpfs && i % 2 === 0 ? 'ENOSPC' : 'EFBIG');

before(() => {
  work = mkdtempSync(join(tmpdir(), 'sbert-faults-'));
  const mnt = join(work, 'tmpfs');
  mkdirSync(mnt);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (r.status === 0) tmpfs = mnt;
  else process.stdout.write(`# fault-injection: cannot mount a tmpfs here (${(r.stderr || r.error?.message || '').trim()}); every position uses EFBIG (file-size limit) instead of half ENOSPC\n`);
  // Texts for the corpora and the encode input.
  writeFileSync(join(work, 'corpus-a.jsonl'), Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `a${i}`, text: `first corpus sentence number ${i}` })).join('\n') + '\n');
  writeFileSync(join(work, 'corpus-b.jsonl'), Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `b${i}`, text: `another added text, item ${i}` })).join('\n') + '\n');
  writeFileSync(join(work, 'texts.txt'), Array.from({ length: 60 }, (_, i) => `a text to embed, line ${i}`).join('\n') + '\n');
});

after(() => {
  if (tmpfs) spawnSync('umount', [tmpfs]);
  rmSync(work, { recursive: true, force: true });
});

function recipe(dir: string): string {
  const file = join(dir, 'r.yaml');
  writeFileSync(
    file,
    [
      'model: { base: "builtin:tiny", max_seq_length: 16 }',
      `data: { train: "${PAIRS}", dev: "${PAIRS}", score_scale: [0, 5] }`,
      'training: { batch_size: 4, epochs: 2, checkpoint_every: 1, keep_checkpoints: 2 }',
      'evaluation: { every_steps: 2 }',
      'output: { dir: run }',
    ].join('\n') + '\n',
  );
  return file;
}

test('training (checkpoints + model save): a failed write at 20 positions exits 2 in one line, and --resume gives the bit-identical model', async (t) => {
  const ref = mkdtempSync(join(work, 'train-ref-'));
  const r0 = await cli([recipe(ref)], { cwd: ref });
  assert.equal(r0.code, 0, r0.stderr);
  const want = sha(join(ref, 'run', 'model', 'model.safetensors'));
  const written = tree(join(ref, 'run')).reduce((s, f) => s + statSync(join(ref, 'run', f)).size, 0);
  const biggest = largestFile(join(ref, 'run'));
  const ns = positions(0, written, POSITIONS, 'train-enospc');
  const fs = positions(0, biggest, POSITIONS, 'train-efbig');
  for (let i = 0; i < POSITIONS; i++) {
    const kind = kindAt(i);
    const n = kind === 'ENOSPC' ? ns[i] : fs[i];
    const place = faulty(kind, n, (d) => recipe(d));
    const what = `train ${kind} at ${n} bytes`;
    const r = await cli([join(place.dir, 'r.yaml')], { cwd: place.dir, fsize: place.fsize });
    t.diagnostic(`${what}: ${assertOneLineFailure(r, what).replace(work, '$WORK')}`);
    place.release();
    const resumed = await cli([join(place.dir, 'r.yaml'), '--resume'], { cwd: place.dir });
    assert.equal(resumed.code, 0, `${what}: --resume failed:\n${resumed.stderr}`);
    assert.equal(sha(join(place.dir, 'run', 'model', 'model.safetensors')), want, `${what}: the resumed model differs from the uninterrupted run's`);
    const leftovers = tree(join(place.dir, 'run')).filter((f) => /(^|\/)\.(tmp|trash)|\.tmp$|\.old$/.test(f));
    assert.deepEqual(leftovers, [], `${what}: temp files left after the resume`);
  }
});

test('training: the k-th write of the run fails (20 positions over every write it makes: metrics, recipe, checkpoints, model, report): exit 2 in one line, --resume gives the bit-identical model', async (t) => {
  const ref = mkdtempSync(join(work, 'train-count-'));
  const countFile = join(ref, 'writes');
  const r0 = await cli([recipe(ref)], { cwd: ref, writeFault: { SBERT_FAULT_UNDER: join(ref, 'run'), SBERT_FAULT_COUNT_FILE: countFile } });
  assert.equal(r0.code, 0, r0.stderr);
  const want = sha(join(ref, 'run', 'model', 'model.safetensors'));
  const writes = Number(readFileSync(countFile, 'utf8'));
  assert.ok(writes >= 20, `the run made only ${writes} writes`);
  // One position in each twentieth of the writes, always including the first and the last.
  const ks = [...new Set([1, ...positions(1, writes + 1, POSITIONS - 2, 'train-writes'), writes])];
  for (const [i, k] of ks.entries()) {
    const code = i % 2 === 0 ? 'ENOSPC' : 'EFBIG';
    const dir = mkdtempSync(join(work, 'train-k-'));
    const what = `train ${code} at write ${k} of ${writes}`;
    const r = await cli([recipe(dir)], { cwd: dir, writeFault: { SBERT_FAULT_UNDER: join(dir, 'run'), SBERT_FAULT_WRITE_AT: String(k), SBERT_FAULT_CODE: code } });
    const line = assertOneLineFailure(r, what);
    assert.ok(line.includes(join(dir, 'run')), `${what}: the line does not name the file: ${line}`);
    t.diagnostic(`${what}: ${line.replace(work, '$WORK')}`);
    const resumed = await cli([join(dir, 'r.yaml'), '--resume'], { cwd: dir });
    assert.equal(resumed.code, 0, `${what}: --resume failed:\n${resumed.stderr}`);
    assert.equal(sha(join(dir, 'run', 'model', 'model.safetensors')), want, `${what}: the resumed model differs from the uninterrupted run's`);
    const leftovers = tree(join(dir, 'run')).filter((f) => /(^|\/)\.(tmp|trash)|\.tmp$|\.old$/.test(f));
    assert.deepEqual(leftovers, [], `${what}: temp files left after the resume`);
  }
});

/** What an index answers: its manifest facts and the top 5 for a few stored vectors. */
function fingerprint(dir: string): string {
  const index = HnswIndex.load(dir);
  const m = index.manifest();
  const hits = index.liveLabels().slice(0, 5).map((l) => index.search(index.vector(l), 5).map((h) => `${h.id}:${h.score.toFixed(6)}`));
  return JSON.stringify({ count: m.count, total: m.total, generation: m.generation, ef: m.params.ef, hits });
}

async function buildIndex(dir: string, corpus: string, extra: string[] = []): Promise<void> {
  const r = await cli(['index', 'build', '--model', 'builtin:tiny', '--input', join(work, corpus), '--text-column', 'text', '--id-column', 'id', '--out', dir, '--ef', '50', ...extra]);
  assert.equal(r.code, 0, r.stderr);
}

test('index build --force over an old index: a failed write at 20 positions exits 2 in one line; the old index searches as before', async (t) => {
  const old = join(work, 'index-old');
  await buildIndex(old, 'corpus-a.jsonl');
  const before = fingerprint(old);
  const ref = join(work, 'index-ref');
  cpSync(old, ref, { recursive: true });
  await buildIndex(ref, 'corpus-b.jsonl', ['--force']);
  const added = tree(ref).filter((f) => !tree(old).includes(f)).reduce((s, f) => s + statSync(join(ref, f)).size, 0);
  const ns = positions(0, added, POSITIONS, 'build-enospc');
  const fs = positions(0, largestFile(ref), POSITIONS, 'build-efbig');
  for (let i = 0; i < POSITIONS; i++) {
    const kind = kindAt(i);
    const n = kind === 'ENOSPC' ? ns[i] : fs[i];
    const place = faulty(kind, n, (d) => cpSync(old, join(d, 'idx'), { recursive: true }));
    const what = `index build ${kind} at ${n} bytes`;
    const r = await cli(['index', 'build', '--model', 'builtin:tiny', '--input', join(work, 'corpus-b.jsonl'), '--text-column', 'text', '--id-column', 'id', '--out', join(place.dir, 'idx'), '--ef', '50', '--force'], { fsize: place.fsize });
    t.diagnostic(`${what}: ${assertOneLineFailure(r, what).replace(work, '$WORK')}`);
    place.release();
    assert.deepEqual(tree(join(place.dir, 'idx')), tree(old), `${what}: files of the failed build left behind`);
    assert.equal(fingerprint(join(place.dir, 'idx')), before, `${what}: the old index changed`);
  }
});

test('index add: a failed write at 20 positions exits 2 in one line; the index searches as before and takes the add afterwards', async (t) => {
  const old = join(work, 'add-old');
  await buildIndex(old, 'corpus-a.jsonl');
  const before = fingerprint(old);
  const ref = join(work, 'add-ref');
  cpSync(old, ref, { recursive: true });
  const ok = await cli(['index', 'add', '--index', ref, '--input', join(work, 'corpus-b.jsonl'), '--text-column', 'text', '--id-column', 'id']);
  assert.equal(ok.code, 0, ok.stderr);
  const added = tree(ref).filter((f) => !tree(old).includes(f)).reduce((s, f) => s + statSync(join(ref, f)).size, 0);
  const ns = positions(0, added, POSITIONS, 'add-enospc');
  const fs = positions(0, largestFile(ref), POSITIONS, 'add-efbig');
  for (let i = 0; i < POSITIONS; i++) {
    const kind = kindAt(i);
    const n = kind === 'ENOSPC' ? ns[i] : fs[i];
    const place = faulty(kind, n, (d) => cpSync(old, join(d, 'idx'), { recursive: true }));
    const what = `index add ${kind} at ${n} bytes`;
    const args = ['index', 'add', '--index', join(place.dir, 'idx'), '--input', join(work, 'corpus-b.jsonl'), '--text-column', 'text', '--id-column', 'id'];
    const r = await cli(args, { fsize: place.fsize });
    t.diagnostic(`${what}: ${assertOneLineFailure(r, what).replace(work, '$WORK')}`);
    place.release();
    assert.deepEqual(tree(join(place.dir, 'idx')), tree(old), `${what}: files of the failed add left behind`);
    assert.equal(fingerprint(join(place.dir, 'idx')), before, `${what}: the index changed`);
    if (i === 0) {
      const again = await cli(args);
      assert.equal(again.code, 0, `${what}: the add after the fault failed:\n${again.stderr}`);
      assert.equal(fingerprint(join(place.dir, 'idx')), fingerprint(ref), `${what}: the add after the fault differs from an add without one`);
    }
  }
});

test('encode: a failed write at 20 positions exits 2 in one line; the earlier output file is unchanged', async (t) => {
  const ref = mkdtempSync(join(work, 'enc-ref-'));
  const ok = await cli(['encode', '--model', 'builtin:tiny', '--input', join(work, 'texts.txt'), '--output', join(ref, 'out.jsonl')]);
  assert.equal(ok.code, 0, ok.stderr);
  const size = statSync(join(ref, 'out.jsonl')).size;
  const earlier = Buffer.from('{"text":"an earlier run","embedding":[0.5]}\n');
  const ns = positions(0, size, POSITIONS, 'encode-enospc');
  const fs = positions(0, size, POSITIONS, 'encode-efbig');
  for (let i = 0; i < POSITIONS; i++) {
    const kind = kindAt(i);
    const n = kind === 'ENOSPC' ? ns[i] : fs[i];
    const place = faulty(kind, n, (d) => writeFileSync(join(d, 'out.jsonl'), earlier));
    const what = `encode ${kind} at ${n} bytes`;
    const r = await cli(['encode', '--model', 'builtin:tiny', '--input', join(work, 'texts.txt'), '--output', join(place.dir, 'out.jsonl')], { fsize: place.fsize });
    t.diagnostic(`${what}: ${assertOneLineFailure(r, what).replace(work, '$WORK')}`);
    place.release();
    assert.deepEqual(readFileSync(join(place.dir, 'out.jsonl')), earlier, `${what}: the earlier output changed`);
    assert.deepEqual(tree(place.dir), ['out.jsonl'], `${what}: temp files left`);
  }
});
