/**
 * The public entry (src/index.ts) in-process: train() takes a recipe file, an object or a
 * Recipe and forwards the callbacks; the computing functions choose a backend quietly;
 * searchIndex refuses another model's encoder. (test/package.test.ts runs the packed build.)
 * What trains or embeds runs on each backend of test/helpers/backends.ts, with the training
 * engine train() picks for it by default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndex, ConfigError, loadEncoder, loadIndex, parseRecipe, searchIndex, train, TrainingAborted, UserError, type StepInfo } from '../src/index.js';
import { ROOT } from './helpers/cli.js';
import { captureStderr } from './helpers/faults.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';

const PAIRS = join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv');
const quiet = { log: () => {}, progress: false };
const small = (dir: string) => ({
  model: { base: 'builtin:tiny', max_seq_length: 16 },
  data: { train: 'pairs.csv', score_scale: [0, 5] as [number, number] },
  training: { batch_size: 4, max_steps: 2, checkpoint_every: null },
  output: { dir },
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'api-'));
  copyFileSync(PAIRS, join(dir, 'pairs.csv'));
  return dir;
}

test('loadEncoder picks a backend without printing anything', async () => {
  const { value: encoder, stderr } = await captureStderr(() => loadEncoder('builtin:tiny'));
  assert.equal(stderr, '');
  const [v] = await encoder.encode(['a nurse'], { progress: false });
  assert.equal(v.length, encoder.dim);
  encoder.dispose();
});

for (const backend of TEST_BACKENDS) test(`train(object): relative paths resolve against baseDir; onStep sees each step; the model is saved where modelDir says (${backend})`, async () => {
  await useBackend(backend);
  const dir = folder();
  const steps: StepInfo[] = [];
  const r = await train(small('run'), { ...quiet, baseDir: dir, onStep: (s) => steps.push(s) });
  assert.deepEqual(steps.map((s) => s.step), [1, 2]);
  assert.equal(r.steps, 2);
  assert.equal(r.runDir, join(dir, 'run'));
  assert.equal(r.modelDir, join(dir, 'run', 'model'));
  assert.ok(existsSync(join(r.modelDir, 'model.safetensors')));
});

// Once: where the paths resolve is settled before the backend is touched.
test('train(object) without baseDir resolves against the working folder', async () => {
  const dir = folder();
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const r = await train(small('out'), quiet);
    assert.equal(r.runDir, join(dir, 'out'));
  } finally {
    process.chdir(cwd);
  }
});

for (const backend of TEST_BACKENDS) test(`train(file) and train(Recipe) run the same recipe (${backend})`, async () => {
  await useBackend(backend);
  const dir = folder();
  writeFileSync(join(dir, 'r.yaml'), 'model:\n  base: builtin:tiny\n  max_seq_length: 16\ndata:\n  train: pairs.csv\n  score_scale: [0, 5]\ntraining:\n  batch_size: 4\n  max_steps: 2\n  checkpoint_every: null\noutput:\n  dir: from-file\n');
  const a = await train(join(dir, 'r.yaml'), quiet);
  const b = await train(parseRecipe(small('from-recipe'), { baseDir: dir }), quiet);
  assert.equal(a.runDir, join(dir, 'from-file'));
  assert.equal(b.runDir, join(dir, 'from-recipe'));
  assert.equal(a.weightsHash, b.weightsHash, 'same seed, same data, same steps');
});

// Once: refused by the recipe validation.
test('a bad recipe object is one ConfigError listing every problem', async () => {
  const dir = folder();
  await assert.rejects(
    () => train({ model: { base: 'builtin:tiny' }, data: { train: 'pairs.csv' }, training: { batch_size: 0 }, optimizer: { lr: -1 } }, { ...quiet, baseDir: dir }),
    (e: unknown) => e instanceof ConfigError && e instanceof UserError && e.problems.length === 2 && /training\.batch_size/.test(e.message) && /optimizer\.lr/.test(e.message),
  );
});

for (const backend of TEST_BACKENDS) test(`an aborted signal stops training with TrainingAborted after writing a checkpoint (${backend})`, async () => {
  await useBackend(backend);
  const dir = folder();
  const controller = new AbortController();
  await assert.rejects(
    () => train({ ...small('run'), training: { batch_size: 2, max_steps: 50, checkpoint_every: null } }, { ...quiet, baseDir: dir, signal: controller.signal, onStep: (s) => s.step === 1 && controller.abort() }),
    (e: unknown) => e instanceof TrainingAborted && /interrupted at step 1/.test(e.message),
  );
});

for (const backend of TEST_BACKENDS) test(`buildIndex / save / loadIndex / searchIndex; one query or several; another model is refused (${backend})`, async () => {
  await useBackend(backend);
  const dir = folder();
  const encoder = await loadEncoder('builtin:tiny');
  const texts = ['nurse', 'welder', 'baker', 'pilot'];
  const { index } = await buildIndex(encoder, texts.map((text, i) => ({ id: String(i), text })), { progress: false });
  index.save(join(dir, 'idx'));
  const again = loadIndex(join(dir, 'idx'));
  const hits = await searchIndex(again, encoder, 'welder', { k: 2 });
  assert.equal(hits.length, 2);
  assert.equal(hits[0].text, 'welder', 'an indexed text finds itself first');
  assert.ok(Math.abs(hits[0].score - 1) < 1e-5);
  const many = await searchIndex(again, encoder, ['nurse', 'pilot'], { k: 1 });
  assert.deepEqual(many.map((h) => h[0].text), ['nurse', 'pilot']);
  const other = await loadEncoder('builtin:tiny', { seed: 7 });
  await assert.rejects(() => searchIndex(again, other, 'nurse'), (e: unknown) => e instanceof UserError && /is not the one the index/.test(e.message));
  encoder.dispose();
  other.dispose();
});
