/**
 * task: classification: the metrics against scikit-learn (fixture written by
 * benchmarks/peers/classification_metrics_fixture.py), the weighted cross-entropy against
 * log_loss, the recipe keys' errors, SetFit pair sampling, and small runs of each mode
 * (frozen softmax head through the CLI, logistic head, full fine-tune, SetFit) on builtin:tiny.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { balancedClassWeights, classificationMetrics } from '../src/evaluation/classification-metrics.js';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { ConfigError, DataError } from '../src/errors.js';
import { ClassifierHead, weightedCrossEntropy } from '../src/training/classification-head.js';
import { fitLogistic, loadClassifier, setfitPairs, trainClassification } from '../src/training/classification.js';
import { loadEncoder } from '../src/models/index.js';
import { JOB_FAMILIES } from '../src/data/quickstart.js';
import { ROOT, runCli } from './helpers/cli.js';
import { useBackend } from './helpers/backends.js';

interface Expected {
  accuracy: number;
  confusion: number[][];
  per_class: Array<{ precision: number; recall: number; f1: number; support: number }>;
  [k: string]: unknown;
}
const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'classification-metrics.json'), 'utf8')) as {
  multiclass: { num_classes: number; y_true: number[]; y_pred: number[]; expected: Expected };
  binary: { num_classes: number; y_true: number[]; y_pred: number[]; expected: Expected };
  weights: { labels: number[]; balanced: number[]; logits: number[][]; weighted_cross_entropy: number; cross_entropy: number };
};

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs scikit-learn ${b}`);

for (const name of ['multiclass', 'binary'] as const) {
  test(`metrics equal scikit-learn's (${name}; a class never predicted, a class never true)`, () => {
    const c = fixture[name];
    const m = classificationMetrics(c.y_true, c.y_pred, c.num_classes);
    assert.deepEqual(m.confusion, c.expected.confusion);
    for (const k of ['accuracy', 'macro_precision', 'macro_recall', 'macro_f1', 'micro_precision', 'micro_recall', 'micro_f1', 'weighted_precision', 'weighted_recall', 'weighted_f1'] as const) {
      close(m[k], c.expected[k] as number, k);
    }
    c.expected.per_class.forEach((p, i) => {
      close(m.perClass[i].precision, p.precision, `precision[${i}]`);
      close(m.perClass[i].recall, p.recall, `recall[${i}]`);
      close(m.perClass[i].f1, p.f1, `f1[${i}]`);
      assert.equal(m.perClass[i].support, p.support);
    });
  });
}

test('the fixture does exercise the edge cases (a class with precision 0 by zero_division)', () => {
  const e = fixture.multiclass.expected;
  assert.ok(e.per_class.some((p) => p.support > 0 && p.precision === 0), 'a true class that is never predicted');
  assert.ok(e.per_class.some((p) => p.support === 0), 'a class that never occurs');
});

test('balanced class weights and the weighted cross-entropy equal scikit-learn (compute_class_weight, log_loss)', () => {
  const w = fixture.weights;
  balancedClassWeights(w.labels, 3).forEach((v, i) => close(v, w.balanced[i], `weight[${i}]`));
  const before = tf.memory().numTensors;
  const logits = tf.tensor2d(w.logits);
  const labels = tf.tensor1d(w.labels, 'int32');
  const weights = tf.tensor1d(w.balanced);
  const weighted = weightedCrossEntropy(logits, labels, weights);
  const plain = weightedCrossEntropy(logits, labels, null);
  assert.ok(Math.abs(weighted.dataSync()[0] - w.weighted_cross_entropy) < 1e-5);
  assert.ok(Math.abs(plain.dataSync()[0] - w.cross_entropy) < 1e-5);
  tf.dispose([logits, labels, weights, weighted, plain]);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaked');
});

// ---------------------------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), 'sbert-cls-'));
const families = JOB_FAMILIES.slice(0, 4);
writeFileSync(join(dir, 'train.csv'), `text,label\n${families.flatMap((f) => f.titles.map((t) => `${t},${f.id}`)).join('\n')}\n`);

function recipe(extra: Record<string, unknown>, out: string, data: Record<string, unknown> = {}): Recipe {
  return parseRecipe(
    {
      task: 'classification',
      model: { base: 'builtin:tiny' },
      data: { train: 'train.csv', dev: 'train.csv', columns: { texts: ['text'], label: 'label' }, ...data },
      training: { batch_size: 8, seed: 3 },
      classification: extra,
      output: { dir: out },
    },
    { baseDir: dir },
  );
}

const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems ?? [e.message];
  }
  assert.fail('no ConfigError');
};

test('classification keys: typos, wrong shapes and cross-field mistakes, each by dotted path', () => {
  assert.deepEqual(problems(() => recipe({ head: 'logistc', setfit: { iteration: 4 }, class_weights: 'balance' }, 'x')), [
    "classification.head: must be one of softmax, logistic, got the string \"logistc\" (did you mean 'logistic'?)",
    "classification.class_weights: must be one of balanced, got the string \"balance\" (did you mean 'balanced'?)",
    "classification.setfit.iteration: unknown key (did you mean 'iterations'?)",
  ]);
  assert.deepEqual(problems(() => recipe({ class_weights: { software: 0 }, labels: ['a'] }, 'x')), ['classification.labels: must list at least 2 item(s), got 1', 'classification.class_weights.software: must be > 0, got 0']);
  assert.deepEqual(problems(() => recipe({ head: 'logistic', frozen: false, labels: ['a', 'b'], class_weights: { c: 2 } }, 'x')), [
    'classification.frozen: the logistic head is fitted on frozen embeddings; use head: softmax to train the encoder with the head',
    'classification.class_weights.c: not one of classification.labels (a, b)',
  ]);
  assert.deepEqual(problems(() => recipe({}, 'x', { columns: { texts: ['text', 'label'], label: null } })), [
    'data.columns.texts: task classification reads one text column, the mapping gives 2 (e.g. texts: [text])',
    'data.columns.label: task classification needs a label column (the class of each text)',
  ]);
  assert.match(problems(() => recipe({}, 'x', {}) && parseRecipe({ model: { base: 'builtin:tiny' }, data: { train: 'train.csv' }, classification: { head: 'logistic' } }, { baseDir: dir })).join(), /classification\.head: only read by task classification, not task 'embedding'/);
  const r = recipe({ setfit: true }, 'x');
  assert.equal(r.classification.frozen, true, 'setfit defaults to a frozen head phase');
  assert.deepEqual(r.classification.setfit, { iterations: 20, loss: 'cosine_mse', epochs: 1 });
  assert.equal(r.evaluation.monitor, 'accuracy');
  assert.match(problems(() => recipe({}, 'x', {}) && parseRecipe({ task: 'classification', model: { base: 'builtin:tiny' }, data: { train: 'train.csv', columns: { texts: ['text'], label: 'label' } }, evaluation: { monitor: 'spearman_cosine' } }, { baseDir: dir })).join(), /evaluation\.monitor: task classification reports accuracy, .* got 'spearman_cosine'/);
});

test('SetFit pairs: 2 x iterations per text, positives share the label, negatives do not; seeded', () => {
  const set = { name: 'train', texts: ['a1', 'a2', 'b1', 'b2', 'c1'], y: [0, 0, 1, 1, 2] };
  const pairs = setfitPairs(set, 3, 7);
  assert.equal(pairs.length, 2 * 3 * 5);
  const label = (t: string) => set.y[set.texts.indexOf(t)];
  for (const [a, b, s] of pairs) assert.equal(label(a) === label(b), s === 1, `${a} ${b} ${s}`);
  assert.equal(pairs.filter((p) => p[2] === 1).length, 15);
  assert.deepEqual(setfitPairs(set, 3, 7), pairs);
  assert.notDeepEqual(setfitPairs(set, 3, 8), pairs);
});

test('a dev label that train never had is a data error naming file:line', async () => {
  writeFileSync(join(dir, 'dev-bad.csv'), 'text,label\nnurse,nursing\nweb developer,web\n');
  await useBackend('wasm');
  await assert.rejects(trainClassification(recipe({ frozen: true }, join(dir, 'bad'), { dev: 'dev-bad.csv' }), { progress: false, log: () => {} }), (e: Error) => e instanceof DataError && /data\.dev: 1 row\(s\) with a label not in the labels of data\.train .*dev-bad\.csv:2 \('nursing'\)/.test(e.message));
});

test('CLI: a frozen softmax head learns the classes; the saved classifier predicts what the run measured', async () => {
  const yaml = join(dir, 'frozen.yaml');
  writeFileSync(yaml, `task: classification\nmodel: {base: 'builtin:tiny'}\ndata: {train: train.csv, dev: train.csv, test: train.csv, columns: {texts: [text], label: label}}\ntraining: {batch_size: 8}\nclassification: {frozen: true, head_epochs: 15, class_weights: balanced}\noutput: {dir: frozen-run}\n`);
  const r = runCli([yaml, '--backend', 'wasm'], { cwd: dir, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /done: \d+ steps; dev accuracy: [\d.]+ before, [\d.]+ after; test accuracy [\d.]+, macro-F1 [\d.]+/);
  const report = JSON.parse(readFileSync(join(dir, 'frozen-run', 'report.json'), 'utf8')) as { models: Array<{ results: Array<{ name: string; metrics: Record<string, number> }> }>; sections: Array<{ title: string; html: string }> };
  const tuned = report.models.at(-1)!.results.find((x) => x.name === 'test')!.metrics;
  const base = report.models[0].results.find((x) => x.name === 'test')!.metrics;
  assert.ok(tuned.accuracy > 0.6 && tuned.accuracy > base.accuracy + 0.2, `accuracy ${base.accuracy} -> ${tuned.accuracy}`);
  const cm = report.sections.find((s) => s.title.startsWith('Confusion matrix'))!;
  assert.match(cm.html, /<svg/);
  assert.match(readFileSync(join(dir, 'frozen-run', 'report.html'), 'utf8'), /share of true class/);
  await useBackend('wasm');
  const c = await loadClassifier(join(dir, 'frozen-run', 'model'));
  assert.deepEqual(c.labels, ['data', 'it_support', 'software', 'web']);
  const rows = families.flatMap((f) => f.titles.map((t) => ({ t, label: f.id })));
  const pred = await c.predict(rows.map((x) => x.t));
  const acc = pred.filter((p, i) => p === rows[i].label).length / rows.length;
  assert.ok(Math.abs(acc - tuned.accuracy) < 1e-9, `reloaded accuracy ${acc} vs the run's ${tuned.accuracy}`);
});

test('logistic head on frozen embeddings, and a full fine-tune that moves the encoder', async () => {
  const engine = await useBackend('wasm');
  const quiet = { ...engine, progress: false, log: () => {} };
  const lr = await trainClassification(recipe({ head: 'logistic' }, join(dir, 'logistic')), quiet);
  assert.ok(lr.dev!.accuracy > 0.6, `logistic accuracy ${lr.dev!.accuracy}`);
  const full = await trainClassification(recipe({ frozen: false, head_epochs: 3 }, join(dir, 'full')), quiet);
  assert.ok(full.dev!.accuracy > full.before.dev!.accuracy, `${full.before.dev!.accuracy} -> ${full.dev!.accuracy}`);
  const tuned = await loadEncoder(join(dir, 'full', 'model'));
  const base = await loadEncoder('builtin:tiny', { seed: 3 });
  assert.notEqual(await tuned.weightsHash(), await base.weightsHash(), 'the head loss trained the encoder');
  const frozenEnc = await loadEncoder(join(dir, 'logistic', 'model'));
  assert.equal(await frozenEnc.weightsHash(), await base.weightsHash(), 'a frozen run leaves the encoder as it was');
});

test('full fine-tune on the onnx engine (encoder in onnxruntime, head in tfjs) follows the tfjs run', async () => {
  const losses: Record<string, number[]> = {};
  const lines: string[] = [];
  for (const backend of ['wasm', 'onnx']) {
    const engine = await useBackend(backend);
    const r = recipe({ frozen: false, head_epochs: 1 }, join(dir, `engine-${backend}`));
    r.training.shuffle = false;
    r.optimizer.clip_grad_norm = 1;
    losses[backend] = [];
    await trainClassification(r, { ...engine, progress: false, log: (l) => lines.push(l), onStep: (s) => losses[backend].push(s.loss) });
  }
  assert.ok(lines.some((l) => /training the encoder on the onnx engine/.test(l)), 'the onnx run used the engine');
  assert.equal(losses.onnx.length, losses.wasm.length);
  losses.onnx.forEach((l, i) => assert.ok(Math.abs(l - losses.wasm[i]) < 1e-3 * Math.max(1, Math.abs(l)), `step ${i + 1}: onnx ${l} vs tfjs ${losses.wasm[i]}`));
  assert.notEqual(losses.onnx[0], losses.onnx.at(-1), 'it trained');
});

test('setfit: a contrastive phase on sampled pairs, then the head', async () => {
  const engine = await useBackend('wasm');
  const r = await trainClassification(recipe({ setfit: { iterations: 2 }, head_epochs: 10 }, join(dir, 'setfit')), { ...engine, progress: false, log: () => {} });
  const pairs = readFileSync(join(dir, 'setfit', 'setfit-pairs.csv'), 'utf8').trim().split('\n');
  assert.equal(pairs.length - 1, 2 * 2 * 25);
  assert.ok(existsSync(join(dir, 'setfit', 'setfit', 'model', 'model.safetensors')));
  const tuned = await loadEncoder(join(dir, 'setfit', 'model'));
  const base = await loadEncoder('builtin:tiny', { seed: 3 });
  assert.notEqual(await tuned.weightsHash(), await base.weightsHash(), 'the contrastive phase trained the encoder');
  assert.ok(r.dev!.accuracy > 0.6, `setfit accuracy ${r.dev!.accuracy}`);
});

test('the logistic head fits the objective of scikit-learn LogisticRegression (plain and class_weight=balanced)', async (t) => {
  const lg = (JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'classification-metrics.json'), 'utf8')) as { logistic: { x: number[][]; y: number[]; c: number; plain: { proba: number[][] }; balanced: { proba: number[][] } } }).logistic;
  await useBackend('wasm');
  const emb = lg.x.map((r) => Float32Array.from(r));
  for (const [name, weights] of [['plain', null], ['balanced', balancedClassWeights(lg.y, 3)]] as const) {
    const head = new ClassifierHead({ labels: ['0', '1', '2'], head: 'logistic', in_features: 5, out_features: 3 });
    await fitLogistic(head, emb, lg.y, weights, lg.c);
    const p = await head.predictProba(emb);
    let worst = 0;
    p.forEach((row, i) => row.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - lg[name].proba[i][k])))));
    head.dispose();
    assert.ok(worst < 2e-4, `${name}: probabilities differ from scikit-learn by up to ${worst}`);
    t.diagnostic(`${name}: max abs difference to scikit-learn's predict_proba ${worst.toExponential(2)}`);
  }
});
