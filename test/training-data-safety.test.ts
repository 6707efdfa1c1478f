/**
 * Data problems through the trainer and the real CLI (built-in tiny model): a resume on a data
 * file that shrank since the checkpoint (used to spin forever), multiple_negatives_ranking at
 * the short end of an epoch and on a one-row file (used to crash in oneHot mid-run), labels out
 * of the loss's range and a constant dev set (used to train silently), and the NaN advice on
 * the first step. What trains runs on each backend of test/helpers/backends.ts (the tfjs and
 * onnx training engines reach the epoch end, the resume and the NaN abort on their own code);
 * what is refused before the model loads runs once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadRecipe, parseRecipe } from '../src/recipe/index.js';
import { train, type StepInfo } from '../src/training/index.js';
import { DataError, TrainingAborted } from '../src/errors.js';
import { isOneLineUserError, runCli } from './helpers/cli.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';

const quiet = { log: () => {}, progress: false };
type TrainEngine = Awaited<ReturnType<typeof useBackend>>;

function pairs(n: number, from = 0): string {
  const rows = Array.from({ length: n }, (_, i) => `question number ${from + i},answer number ${from + i},${(((from + i) * 7) % 6) / 5}`);
  return ['sentence1,sentence2,score', ...rows].join('\n') + '\n';
}

/** A recipe file in a fresh folder, with its data files. */
function setup(name: string, files: Record<string, string>, lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), `safety-${name}-`));
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  const recipeFile = join(dir, 'r.yaml');
  writeFileSync(recipeFile, ['model: { base: "builtin:tiny", max_seq_length: 16 }', ...lines, 'output: { dir: run }'].join('\n') + '\n');
  return recipeFile;
}

/** Train in-process until step `at`, then abort: a checkpoint at that step, mid-epoch. */
async function interruptAt(recipeFile: string, at: number, engine: TrainEngine): Promise<void> {
  const controller = new AbortController();
  await assert.rejects(
    train(loadRecipe(recipeFile), { ...quiet, ...engine, skipSave: true, signal: controller.signal, onStep: (s) => s.step === at && controller.abort() }),
    (e: unknown) => e instanceof TrainingAborted && new RegExp(`interrupted at step ${at}`).test(e.message),
  );
}

for (const backend of TEST_BACKENDS) test(`--resume after the train file shrank: refused in one line naming it; --allow-changed-data starts the next epoch instead of hanging (${backend})`, async () => {
  const engine = await useBackend(backend);
  // 10 rows at batch 1, 2 epochs: interrupted at step 8, the checkpoint's position is batch 8 of epoch 1.
  const f = setup('shrink', { 'train.csv': pairs(10) }, ['data: { train: train.csv }', 'training: { batch_size: 1, epochs: 2, checkpoint_every: 100 }']);
  await interruptAt(f, 8, engine);
  writeFileSync(join(f, '..', 'train.csv'), pairs(7)); // now 7 batches: position 8 is past the end

  const refused = runCli([f, '--resume', '--backend', backend], { timeoutMs: 60_000 });
  assert.ok(isOneLineUserError(refused), `exit ${refused.code}: ${refused.stderr}`);
  assert.match(refused.stderr, /sbert-train: --resume: data\.train .*train\.csv \(10 rows then, 7 rows now, different bytes\) changed since the checkpoint .*--allow-changed-data/);

  const allowed = runCli([f, '--resume', '--allow-changed-data', '--backend', backend], { timeoutMs: 60_000 });
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stderr, /continuing on changed data \(--allow-changed-data\)/);
  assert.match(allowed.stderr, /epoch 1: position 8 is past its 7 batches; starting the next epoch/);
  // Step 8 of the old data, then epoch 2 on the new: 7 more steps, the 14 steps 7 rows x 2 epochs make.
  assert.match(allowed.stdout, /^done: 14 steps/);
});

for (const backend of TEST_BACKENDS) test(`--resume after the dev file changed is refused too; the unchanged data resumes (${backend})`, async () => {
  const engine = await useBackend(backend);
  const f = setup('devchange', { 'train.csv': pairs(6), 'dev.csv': pairs(4, 20) }, [
    'data: { train: train.csv, dev: dev.csv }',
    'training: { batch_size: 2, epochs: 2, checkpoint_every: 100 }',
    'evaluation: { at_epoch_end: false }',
  ]);
  await interruptAt(f, 2, engine);
  writeFileSync(join(f, '..', 'dev.csv'), pairs(4, 30));
  await assert.rejects(train(loadRecipe(f), { ...quiet, ...engine, skipSave: true, resume: true }), (e: unknown) => e instanceof Error && /^--resume: data\.dev .*dev\.csv \(4 rows then, 4 rows now, different bytes\)/.test(e.message));
  writeFileSync(join(f, '..', 'dev.csv'), pairs(4, 20));
  const r = await train(loadRecipe(f), { ...quiet, ...engine, skipSave: true, resume: true });
  assert.equal(r.steps, 6);
});

// Once: refused while reading the flags.
test('--allow-changed-data without --resume is a one-line error', () => {
  const f = setup('flag', { 'train.csv': pairs(4) }, ['data: { train: train.csv }']);
  const r = runCli([f, '--allow-changed-data', '--backend', 'cpu'], { timeoutMs: 60_000 });
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /--allow-changed-data: only means something with --resume/);
});

for (const backend of TEST_BACKENDS) test(`multiple_negatives_ranking, 17 rows at batch 8: the short last batch is dropped, no crash at the end of the epoch (${backend})`, async () => {
  const engine = await useBackend(backend);
  const rows = Array.from({ length: 17 }, (_, i) => `query ${i},passage ${i}`);
  const f = setup('mnrl17', { 'train.csv': ['q,p', ...rows].join('\n') + '\n' }, [
    'data: { train: train.csv, columns: { texts: [q, p], label: null } }',
    'loss: { name: multiple_negatives_ranking }',
    'training: { batch_size: 8, epochs: 2, checkpoint_every: null }',
  ]);
  const steps: StepInfo[] = [];
  const r = await train(loadRecipe(f), { ...quiet, ...engine, skipSave: true, onStep: (s) => steps.push(s) });
  assert.equal(r.steps, 4, '2 full batches per epoch');
  assert.deepEqual(steps.map((s) => s.epoch), [1, 1, 2, 2]);
  assert.ok(steps.every((s) => Number.isFinite(s.loss)));
});

// This and the next two once: refused while the data loads, before the model.
test('multiple_negatives_ranking on a one-row file: a one-line error before training; the run folder stays re-runnable', () => {
  const f = setup('mnrl1', { 'train.csv': 'q,p\nonly query,only passage\n' }, [
    'data: { train: train.csv, columns: { texts: [q, p], label: null } }',
    'loss: { name: multiple_negatives_ranking }',
    'training: { batch_size: 8 }',
  ]);
  const r = runCli([f, '--backend', 'cpu'], { timeoutMs: 60_000 });
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /sbert-train: data\.train .*train\.csv: 1 example cannot form one batch of 2 for loss multiple_negatives_ranking/);
  const run = join(f, '..', 'run');
  assert.ok(!existsSync(join(run, 'metrics.jsonl')), 'no metrics.jsonl left behind');
  assert.deepEqual(existsSync(run) ? readdirSync(run) : [], []);
  const again = runCli([f, '--backend', 'cpu'], { timeoutMs: 60_000 });
  assert.doesNotMatch(again.stderr, /already holds a run/);
});

test('labels -3, 7, 500 for cosine_mse without data.score_scale: refused at load, naming file:line', async () => {
  const f = setup('labels', { 'train.csv': 'sentence1,sentence2,score\na b,c d,0.5\ne f,g h,-3\ni j,k l,7\nm n,o p,500\n' }, ['data: { train: train.csv }', 'training: { batch_size: 2 }']);
  const steps: StepInfo[] = [];
  await assert.rejects(
    train(loadRecipe(f), { ...quiet, skipSave: true, onStep: (s) => steps.push(s) }),
    (e: unknown) => e instanceof DataError && /train\.csv:3 \(-3\); .*train\.csv:4 \(7\); .*train\.csv:5 \(500\); .*data\.score_scale: \[-3, 500\]/.test(e.message) && !e.message.includes('\n'),
  );
  assert.equal(steps.length, 0, 'no training step taken');
});

test('a dev set with constant scores is refused before training (it gave NaN Spearman and early stopping)', async () => {
  const f = setup('flatdev', { 'train.csv': pairs(6), 'dev.csv': 'sentence1,sentence2,score\na,b,0.5\nc,d,0.5\ne,f,0.5\n' }, [
    'data: { train: train.csv, dev: dev.csv }',
    'training: { batch_size: 2, epochs: 3 }',
    'evaluation: { every_steps: 1, early_stopping: { patience: 1 } }',
  ]);
  const steps: StepInfo[] = [];
  await assert.rejects(
    train(loadRecipe(f), { ...quiet, skipSave: true, onStep: (s) => steps.push(s) }),
    (e: unknown) => e instanceof DataError && /^data\.dev .*dev\.csv: scores have no variance \(all 0\.5\); Pearson\/Spearman are undefined$/.test(e.message),
  );
  assert.equal(steps.length, 0);
});

for (const backend of TEST_BACKENDS) test(`a NaN loss on the first step does not advise a lower learning rate (no update was made yet) (${backend})`, async () => {
  const engine = await useBackend(backend);
  const dir = mkdtempSync(join(tmpdir(), 'safety-nan1-'));
  writeFileSync(join(dir, 'train.csv'), pairs(4));
  const r = parseRecipe({ model: { base: 'builtin:tiny', max_seq_length: 16 }, data: { train: 'train.csv' }, training: { batch_size: 2, checkpoint_every: null }, output: { dir: join(dir, 'run') } }, { baseDir: dir });
  await assert.rejects(train(r, { ...quiet, ...engine, skipSave: true, test: { nanAtStep: 1 } }), (e: unknown) => {
    assert.ok(e instanceof TrainingAborted);
    assert.match(e.message, /loss is NaN at step 1 .*before any update, so the learning rate is not the cause/);
    assert.doesNotMatch(e.message, /optimizer\.lr/);
    return true;
  });
});
