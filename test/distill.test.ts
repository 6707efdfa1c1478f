/** task: distill: layer selection, the MSE-to-teacher loss, a run end to end, recipe errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/builtin.js';
import { loadEncoder } from '../src/models/index.js';
import { createTeacherMseLoss } from '../src/losses/teacher-mse.js';
import { selectLayers } from '../src/training/distill.js';
import { ROOT, isOneLineUserError, runCli } from './helpers/cli.js';
import { TEST_BACKENDS } from './helpers/backends.js';

const QUICK = join(ROOT, 'datasets', 'quickstart');

test('selectLayers keeps the chosen layers, renumbered, and everything else as it was', async () => {
  await initBackend('cpu');
  const teacher = builtinEncoder({ numLayers: 3, hiddenSize: 32, numHeads: 2, intermediateSize: 64 }, 7);
  const student = await selectLayers(teacher, [2, 0]);
  try {
    assert.equal(student.config.numLayers, 2);
    const tw = teacher.namedWeights();
    const sw = student.namedWeights();
    const same = (a: string, b: string) => assert.deepEqual(sw.get(a)!.dataSync(), tw.get(b)!.dataSync(), `${a} should be the teacher's ${b}`);
    let checked = 0;
    for (const name of sw.keys()) {
      const m = /^(.*\.layer\.)(\d+)(\..*)$/.exec(name);
      if (m) same(name, `${m[1]}${[2, 0][Number(m[2])]}${m[3]}`);
      else same(name, name);
      checked++;
    }
    assert.ok(checked > 10);
    assert.ok(![...sw.keys()].some((k) => /\.layer\.2\./.test(k)), 'layer 2 renumbered away');
    // A copy, not a view: training the student must not move the teacher.
    const anyName = [...sw.keys()][0];
    sw.get(anyName)!.assign(tf.zerosLike(sw.get(anyName)!));
    assert.notDeepEqual(tw.get(anyName)!.dataSync(), sw.get(anyName)!.dataSync());
  } finally {
    student.dispose();
    teacher.dispose();
  }
});

test('selectLayers refuses a layer the model does not have', async () => {
  await initBackend('cpu');
  const teacher = builtinEncoder('tiny');
  try {
    await assert.rejects(selectLayers(teacher, [0, 2]), /distill\.student\.layers: builtin:tiny has 2 layers \(0-1\), got 2/);
  } finally {
    teacher.dispose();
  }
});

test('teacher_mse is the mean squared difference over every element of the rows the labels name', async () => {
  await initBackend('cpu');
  const table = new Float32Array([0, 0, 1, 2, -1, 0.5]); // 3 rows of width 2
  const { loss, dispose } = createTeacherMseLoss({ data: table, dim: 2 });
  try {
    const student = tf.tensor2d([[1, 0], [0.5, 2.5]]);
    const labels = tf.tensor1d([0, 2]); // rows [0, 0] and [-1, 0.5]
    const got = loss.lossFromEmbeddings([student], labels).dataSync()[0];
    const want = ((1 - 0) ** 2 + (0 - 0) ** 2 + (0.5 + 1) ** 2 + (2.5 - 0.5) ** 2) / 4;
    assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  } finally {
    dispose();
  }
});

function recipe(dir: string, extra: string): string {
  const file = join(dir, 'distill.yaml');
  writeFileSync(
    file,
    `task: distill
model:
  base: builtin:tiny
  max_seq_length: 16
data:
  train: ${join(QUICK, 'train.csv')}
  test: ${join(QUICK, 'dev.csv')}
  validation_split: 0.1
optimizer:
  lr: 0.001
training:
  max_steps: 6
  batch_size: 32
  checkpoint_every: null
output:
  dir: ${join(dir, 'run')}
${extra}`,
  );
  return file;
}

for (const backend of TEST_BACKENDS) {
  test(`a distill run (${backend}): a 1-of-2-layer student gets closer to the teacher and is compared with it`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'distill-'));
    try {
      const r = runCli([recipe(dir, 'distill:\n  student:\n    layers: [1]\n  speed_texts: 64\nevaluation:\n  batch_size: 64\n  every_steps: 3\n'), '--backend', backend], { timeoutMs: 240_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /the teacher \(builtin:tiny\) embeds \d+ distinct texts once/);
      assert.match(r.stdout, /done: 6 steps; dev_loss \(MSE to the teacher\) [\d.]+ -> [\d.]+; student spearman_cosine [-\d.]+ = [-\d.]+% of the teacher's [-\d.]+, encodes [\d.]+x as fast/);
      const cmp = JSON.parse(readFileSync(join(dir, 'run', 'distill.json'), 'utf8'));
      assert.equal(cmp.teacher.layers, 2);
      assert.equal(cmp.student.layers, 1);
      assert.equal(cmp.stsFile, join(QUICK, 'dev.csv'));
      assert.ok(cmp.speedup > 0 && Number.isFinite(cmp.fraction));
      const cfg = JSON.parse(readFileSync(join(dir, 'run', 'model', 'config.json'), 'utf8'));
      assert.equal(cfg.num_hidden_layers, 1);
      const evals = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'eval');
      assert.ok(evals.length >= 2);
      assert.ok(evals.at(-1).dev_loss < evals[0].dev_loss, `dev MSE to the teacher should fall: ${evals[0].dev_loss} -> ${evals.at(-1).dev_loss}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the distilled model folder loads as an ordinary model', async () => {
  // Written by the run above on the last backend; rebuilt here so this test stands alone.
  await initBackend('cpu');
  const teacher = builtinEncoder('tiny');
  const student = await selectLayers(teacher, [0]);
  const dir = mkdtempSync(join(tmpdir(), 'distill-load-'));
  try {
    await student.save(join(dir, 'm'));
    const back = await loadEncoder(join(dir, 'm'));
    const a = await student.encode(['a nurse', 'truck driver']);
    const b = await back.encode(['a nurse', 'truck driver']);
    assert.deepEqual(a, b);
    back.dispose();
  } finally {
    student.dispose();
    teacher.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('distill recipe mistakes are one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distill-bad-'));
  try {
    const cases: Array<[string, RegExp]> = [
      ['distill:\n  student:\n    layers: [0, 5]\n', /distill\.student\.layers: builtin:tiny has 2 layers \(0-1\), got 5/],
      ['distill:\n  student:\n    layers: [0, 0]\n', /distill\.student\.layers\[1\]: 0 is listed twice/],
      ['distill:\n  teacher: builtin:tiny-l4\n  student:\n    layers: [0]\n', /distill\.student\.layers: picks layers of model\.base/],
      ['evaluation:\n  monitor: spearman_cosine\n', /evaluation\.monitor: task distill evaluates dev_loss/],
      ['distill:\n  techer: x\n', /distill\.techer: unknown key \(did you mean 'teacher'\?\)/],
    ];
    for (const [extra, want] of cases) {
      const r = runCli([recipe(dir, extra)]);
      assert.equal(r.code, 2, `${extra}: ${r.stderr}`);
      assert.ok(isOneLineUserError(r), r.stderr);
      assert.match(r.stderr, want);
      assert.ok(!existsSync(join(dir, 'run', 'model')));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
