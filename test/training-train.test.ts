/**
 * The trainer in-process on the built-in tiny model: the knobs of a recipe do what they say, on
 * each backend of test/helpers/backends.ts with the training engine the CLI picks there (tfjs
 * on wasm, the onnx engine on onnx).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { train, type StepInfo } from '../src/training/index.js';
import { loadEncoder } from '../src/models/index.js';
import { ROOT } from './helpers/cli.js';
import { agreeAcrossBackends, TEST_BACKENDS, useBackend } from './helpers/backends.js';

const FIX = join(ROOT, 'test', 'fixtures', 'recipes');
const quiet = { log: () => {}, progress: false };

function mk(over: Record<string, unknown> = {}, training: Record<string, unknown> = {}, evaluation: Record<string, unknown> = {}): Recipe {
  return parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16 },
      data: { train: 'pairs.csv', dev: 'pairs.csv', score_scale: [0, 5] },
      training: { batch_size: 4, epochs: 2, checkpoint_every: null, ...training },
      evaluation,
      output: { dir: mkdtempSync(join(tmpdir(), 'train-')) },
      ...over,
    },
    { baseDir: FIX },
  );
}

for (const backend of TEST_BACKENDS) test(`the parity configuration runs and reports one loss per optimizer step (batch 16, cosine MSE, AdamW 1e-3 wd 0.01, constant, no clip, no shuffle) (${backend})`, async () => {
  const engine = await useBackend(backend);
  const r = mk({ optimizer: { name: 'adamw', lr: 1e-3, weight_decay: 0.01 }, schedule: { name: 'constant' }, data: { train: 'pairs.csv', score_scale: [0, 5] } }, { batch_size: 16, shuffle: false, epochs: 3 });
  const steps: StepInfo[] = [];
  const before = tf.memory().numTensors;
  const res = await train(r, { ...quiet, ...engine, skipSave: true, onStep: (s) => steps.push(s) });
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked by a whole run');
  assert.equal(steps.length, 3, '8 examples at batch 16 = 1 step per epoch');
  assert.deepEqual(steps.map((s) => s.lr), [1e-3, 1e-3, 1e-3]);
  assert.ok(steps.every((s) => Number.isFinite(s.loss) && s.loss > 0));
  assert.ok(steps[2].loss < steps[0].loss, `loss should fall on a repeated batch: ${steps.map((s) => s.loss)}`);
  assert.deepEqual(res.losses, steps.map((s) => s.loss));
  agreeAcrossBackends('parity configuration losses', backend, res.losses, 1e-5);
});

for (const backend of TEST_BACKENDS) test(`gradient accumulation of 2 x batch 2 equals one batch of 4 (mean loss, mean gradient) (${backend})`, async () => {
  const engine = await useBackend(backend);
  const common = { optimizer: { lr: 1e-3 }, schedule: { name: 'constant' }, data: { train: 'pairs.csv', score_scale: [0, 5] } };
  const a = await train(mk(common, { batch_size: 4, shuffle: false, max_steps: 2 }), { ...quiet, ...engine, skipSave: true });
  const b = await train(mk(common, { batch_size: 2, grad_accum_steps: 2, shuffle: false, max_steps: 2 }), { ...quiet, ...engine, skipSave: true });
  assert.equal(a.steps, 2);
  assert.equal(b.steps, 2);
  // Step 2's loss is computed after one update, so it checks the accumulated gradient too.
  for (const i of [0, 1]) assert.ok(Math.abs(a.losses[i] - b.losses[i]) < 1e-5, `step ${i + 1}: ${a.losses[i]} vs ${b.losses[i]}`);
  assert.notEqual(a.losses[1], a.losses[0]);
});

for (const backend of TEST_BACKENDS) test(`frozen embeddings and layers keep their weights; the rest moves (${backend})`, async () => {
  const engine = await useBackend(backend);
  const r = mk({}, { freeze: { embeddings: true, layers: 1 }, max_steps: 2 });
  const res = await train(r, { ...quiet, ...engine });
  const start = await loadEncoder('builtin:tiny', { seed: r.training.seed });
  const tuned = await loadEncoder(res.modelDir!);
  const s = start.namedWeights();
  const t = tuned.namedWeights();
  const same = (name: string) => Buffer.compare(Buffer.from(s.get(name)!.dataSync().buffer), Buffer.from(t.get(name)!.dataSync().buffer)) === 0;
  const names = [...s.keys()];
  const emb = names.filter((n) => n.includes('embeddings.'));
  const layer0 = names.filter((n) => /layer\.0\./.test(n));
  const layer1 = names.filter((n) => /layer\.1\./.test(n));
  assert.ok(emb.length > 0 && layer0.length > 0 && layer1.length > 0, names.join(','));
  for (const n of [...emb, ...layer0]) assert.ok(same(n), `${n} should be frozen`);
  assert.ok(layer1.some((n) => !same(n)), 'layer 1 trains');
  start.dispose();
  tuned.dispose();
});

for (const backend of TEST_BACKENDS) test(`early stopping stops after \`patience\` evaluations without improvement and the best model is the one saved (${backend})`, async () => {
  const engine = await useBackend(backend);
  // A huge learning rate wrecks the model after the first evaluation, so later ones never improve.
  const r = mk({ optimizer: { lr: 0.5 }, schedule: { name: 'constant' } }, { epochs: 20 }, { every_steps: 1, monitor: 'dev_loss', early_stopping: { patience: 2 } });
  const evals: { step: number; loss: number }[] = [];
  const res = await train(r, { ...quiet, ...engine, onEval: (e) => evals.push({ step: e.step, loss: e.metrics.dev_loss }) });
  assert.ok(res.stoppedEarly, 'stopped early');
  assert.ok(res.steps < 40, `stopped at ${res.steps} of 40 steps`);
  const best = evals.reduce((a, b) => (b.loss < a.loss ? b : a));
  assert.equal(res.best!.step, best.step);
  assert.equal(evals.length - 1 - evals.indexOf(best), 2, 'exactly `patience` evaluations after the best');
  assert.ok(Math.abs(res.finalMetrics!.dev_loss - best.loss) < 1e-6, 'the restored (and saved) model is the best one');
  const lines = readFileSync(join(res.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.type === 'train' && l.step === 1 && typeof l.loss === 'number' && typeof l.lr === 'number'));
  assert.equal(lines.filter((l) => l.type === 'eval').length, evals.length + 1, 'every evaluation, and the step-0 baseline');
  assert.equal(lines[0].type === 'eval' && lines[0].step, 0);
  for (const f of ['recipe.yaml', 'report.json', 'report.md', 'report.html', 'model/modules.json']) assert.ok(existsSync(join(res.runDir, f)), f);
  // The run's report has the loss curve, the evaluation curve and the predicted-vs-gold scatter.
  const html = readFileSync(join(res.runDir, 'report.html'), 'utf8');
  for (const title of ['Training loss', 'Evaluation', 'dev: cosine vs gold']) assert.ok(html.includes(title), `report.html shows '${title}'`);
});

// One backend: the refusal comes from the run-folder check, before the model loads.
test('an existing run folder is not overwritten without --resume or output.overwrite', async () => {
  await useBackend(TEST_BACKENDS[0]);
  const r = mk({}, { max_steps: 1 });
  await train(r, { ...quiet, skipSave: true });
  await assert.rejects(train(r, { ...quiet, skipSave: true }), /already holds a run; continue it with --resume/);
});

for (const backend of TEST_BACKENDS) test(`weight decay leaves LayerNorm weights alone unless optimizer.decay_bias_and_norm (${backend})`, async () => {
  const engine = await useBackend(backend);
  const after = async (optimizer: Record<string, unknown>) => {
    const res = await train(mk({ optimizer: { lr: 1e-2, ...optimizer }, schedule: { name: 'constant' } }, { max_steps: 1, shuffle: false }), { ...quiet, ...engine });
    // One step: the update of each weight then depends on its own gradient and decay only.
    const enc = await loadEncoder(res.modelDir!);
    const w = enc.namedWeights();
    const read = (n: string) => Array.from(w.get(n)!.dataSync());
    // (LayerNorm weights start at 1; biases start at 0, where decay has nothing to take: the
    // optimizer test covers them.)
    const out = { norm: read('embeddings.LayerNorm.weight'), weight: read('encoder.layer.0.output.dense.weight') };
    enc.dispose();
    return out;
  };
  const none = await after({ weight_decay: 0 });
  const dflt = await after({ weight_decay: 0.5 });
  const every = await after({ weight_decay: 0.5, decay_bias_and_norm: true });
  assert.deepEqual(dflt.norm, none.norm, 'LayerNorm weight: no decay by default');
  assert.notDeepEqual(dflt.weight, none.weight, 'a matrix decays');
  assert.notDeepEqual(every.norm, none.norm, 'decay_bias_and_norm: LayerNorm decays too');
});
