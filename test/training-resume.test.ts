/**
 * Crash safety, through the real CLI process: kill -9 mid-training then --resume ends with
 * bit-identical weights; a SIGKILL inside a checkpoint save never leaves a corrupt complete
 * checkpoint; a NaN loss stops with the last good checkpoint kept; Ctrl-C checkpoints and exits.
 * Each on every backend of test/helpers/backends.ts (`--backend`): bit-identical within a backend
 * (the same engine and thread count), and the uninterrupted runs of the backends within float
 * rounding of each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, ROOT, runCli } from './helpers/cli.js';
import { agreeAcrossBackends, TEST_BACKENDS } from './helpers/backends.js';
import { listCheckpoints } from '../src/training/checkpoint.js';
import { readSafetensors } from '../src/models/safetensors.js';

const PAIRS = join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv');

/** A tiny run: 8 pairs, batch 4, 3 epochs = 6 optimizer steps, a checkpoint every step. */
function recipe(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `resume-${name}-`));
  const file = join(dir, 'r.yaml');
  writeFileSync(
    file,
    [
      'model: { base: "builtin:tiny", max_seq_length: 16 }',
      `data: { train: "${PAIRS}", dev: "${PAIRS}", score_scale: [0, 5] }`,
      'training: { batch_size: 4, epochs: 3, checkpoint_every: 1, keep_checkpoints: 10 }',
      'evaluation: { every_steps: 2 }',
      'output: { dir: run }',
    ].join('\n'),
  );
  return file;
}

const modelHash = (recipeFile: string) => createHash('sha256').update(readFileSync(join(recipeFile, '..', 'run', 'model', 'model.safetensors'))).digest('hex');
const ckRoot = (recipeFile: string) => join(recipeFile, '..', 'run', 'checkpoints');

/** Start the CLI, wait until `ready()` holds, then send `signal`; resolves with the exit code. */
function runUntil(args: string[], env: Record<string, string>, ready: () => boolean, signal: NodeJS.Signals): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, SBERT_NO_PROGRESS: '1', ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const t0 = Date.now();
    const timer = setInterval(() => {
      if (ready()) {
        clearInterval(timer);
        child.kill(signal);
      } else if (Date.now() - t0 > 90_000) {
        clearInterval(timer);
        child.kill('SIGKILL');
        reject(new Error(`condition never held; stderr:\n${stderr}`));
      }
    }, 20);
    child.on('exit', (code, sig) => {
      clearInterval(timer);
      resolve({ code, signal: sig, stderr });
    });
  });
}

/** The model hash of an uninterrupted run on each backend (run once per backend). */
const reference = new Map<string, string>();
function referenceHash(backend: string): string {
  const known = reference.get(backend);
  if (known) return known;
  const f = recipe(`ref-${backend}`);
  const r = runCli([f, '--backend', backend], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  reference.set(backend, modelHash(f));
  // Across backends the weights agree within float rounding (the engines sum in another order;
  // 7e-6 seen at 2 threads, and Adam turns rounding-sized gradients into lr-sized steps): 1e-4,
  // a tenth of one step at lr 1e-3, where 6 steps move weights by up to 6e-3.
  const weights = readSafetensors(join(f, '..', 'run', 'model', 'model.safetensors'));
  agreeAcrossBackends('uninterrupted run weights', backend, Object.fromEntries([...weights].map(([name, t]) => [name, t.data])), 1e-4);
  return reference.get(backend)!;
}

for (const backend of TEST_BACKENDS) test(`kill -9 mid-training, then --resume: final weights are bit-identical to an uninterrupted run (${backend})`, async () => {
  const want = referenceHash(backend);
  const f = recipe('kill');
  const killed = await runUntil([f, '--backend', backend], { SBERT_TEST_STEP_DELAY_MS: '400' }, () => existsSync(join(ckRoot(f), 'step-00000003')), 'SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  assert.ok(!existsSync(join(f, '..', 'run', 'model')), 'killed before the end');
  for (const c of listCheckpoints(ckRoot(f))) assert.equal(c.problem, null, `${c.dir}: ${c.problem}`);
  const r = runCli([f, '--resume', '--backend', backend], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming from .*step-0000000[3-6]/);
  assert.equal(modelHash(f), want);
});

for (const backend of TEST_BACKENDS) test(`SIGKILL during a checkpoint save leaves only complete checkpoints, and resume still ends identical (${backend})`, async () => {
  const want = referenceHash(backend);
  const f = recipe('ckkill');
  const killed = await runUntil(
    [f, '--backend', backend],
    { SBERT_TEST_CHECKPOINT_DELAY: '3:5000' },
    () => existsSync(ckRoot(f)) && readdirSync(ckRoot(f)).some((n) => n.startsWith('.tmp-step-00000003')),
    'SIGKILL',
  );
  assert.equal(killed.signal, 'SIGKILL');
  const cks = listCheckpoints(ckRoot(f));
  assert.deepEqual(cks.map((c) => c.step), [2, 1], 'the interrupted save never appears as a checkpoint');
  for (const c of cks) assert.equal(c.problem, null, `${c.dir}: ${c.problem}`);
  const r = runCli([f, '--resume', '--backend', backend], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming from .*step-00000002/);
  assert.ok(!readdirSync(ckRoot(f)).some((n) => n.startsWith('.tmp-')), 'the stale temp folder is cleaned up');
  assert.equal(modelHash(f), want);
});

for (const backend of TEST_BACKENDS) test(`a NaN loss stops training (exit 3) with the last good checkpoint kept and named (${backend})`, () => {
  const f = recipe('nan');
  const r = runCli([f, '--backend', backend], { env: { SBERT_TEST_NAN_AT_STEP: '3' }, timeoutMs: 120_000 });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /sbert-train: loss is NaN at step 3 .*last good checkpoint: .*step-00000002/);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  const cks = listCheckpoints(ckRoot(f));
  assert.deepEqual(cks.map((c) => c.step), [2, 1]);
  for (const c of cks) assert.equal(c.problem, null);
  assert.ok(!existsSync(join(f, '..', 'run', 'model')), 'no model saved from a diverged run');
});

for (const backend of TEST_BACKENDS) test(`Ctrl-C writes a checkpoint and exits cleanly; --resume then finishes identically (${backend})`, async () => {
  const want = referenceHash(backend);
  const f = recipe('sigint');
  const r1 = await runUntil([f, '--backend', backend], { SBERT_TEST_STEP_DELAY_MS: '400' }, () => existsSync(join(ckRoot(f), 'step-00000002')), 'SIGINT');
  assert.equal(r1.code, 3, r1.stderr);
  assert.match(r1.stderr, /interrupted at step \d: checkpoint written to .*; continue with --resume/);
  const r2 = runCli([f, '--resume', '--backend', backend], { timeoutMs: 120_000 });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(modelHash(f), want);
});

// Once: the recipe is refused before any backend starts.
test('an invalid recipe via the CLI: exit 2, every problem on one line, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'badrecipe-'));
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'model: { base: "builtin:tiny", poolin: mean }\ndata: { train: pairs.csv }\noptimizer: { lr: -1 }\ntraining: { epochs: 0 }\n');
  const r = runCli([f]);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^sbert-train: bad\.yaml: 3 problems: model\.poolin: unknown key \(did you mean 'pooling'\?\); optimizer\.lr: must be > 0.*; training\.epochs: must be >= 1, got 0$/);
});
