/**
 * Several training datasets in one run (data.train as a list): the samplers' orders by hand and
 * their proportions over seeds, batches that never mix datasets, each batch trained with its own
 * dataset's loss (on both training paths) and reported as loss/<name>, a kill + resume that ends
 * bit-identical, and the recipe errors of the list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, TrainingAborted } from '../src/errors.js';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { train } from '../src/training/index.js';
import { epochBatches, loadRunData, trainSetsOf, buildLoss, lossFromSpec } from '../src/training/data.js';
import { interleaveBatches, proportionalOrder, roundRobinOrder } from '../src/data/index.js';
import { loadEncoder } from '../src/models/index.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';

const dir = mkdtempSync(join(tmpdir(), 'multi-'));
const quiet = { log: () => {}, progress: false };

/** Scored pairs (cosine_mse), `n` rows, texts unique to this file. */
function scored(file: string, n: number): string {
  const rows = ['sentence1,sentence2,score'];
  for (let i = 0; i < n; i++) rows.push(`sts ${file} left ${i} about a cat,sts ${file} right ${i} about cats,${(i % 6) * 1}`);
  writeFileSync(join(dir, file), `${rows.join('\n')}\n`);
  return file;
}

/** Unlabelled (anchor, positive) pairs for in-batch negatives. */
function anchors(file: string, n: number): string {
  const rows = ['anchor,positive'];
  for (let i = 0; i < n; i++) rows.push(`question ${i} of ${file}?,answer number ${i} in ${file}`);
  writeFileSync(join(dir, file), `${rows.join('\n')}\n`);
  return file;
}

const STS = scored('sts.csv', 12);
const QA = anchors('qa.csv', 20);

function mk(training: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Recipe {
  return parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16 },
      data: {
        train: [
          { file: STS, score_scale: [0, 5] },
          { file: QA, columns: { texts: ['anchor', 'positive'], label: null }, loss: { name: 'multiple_negatives_ranking' } },
        ],
      },
      training: { batch_size: 4, epochs: 2, checkpoint_every: null, log_every: 1, ...training },
      output: { dir: mkdtempSync(join(tmpdir(), 'multi-run-')) },
      ...extra,
    },
    { baseDir: dir },
  );
}

test('round_robin: one batch of each in turn, stopping when the one whose turn it is has none left', () => {
  assert.deepEqual(roundRobinOrder([3, 1]), [0, 1, 0]);
  assert.deepEqual(roundRobinOrder([1, 3]), [0, 1]);
  assert.deepEqual(roundRobinOrder([2, 2, 2]), [0, 1, 2, 0, 1, 2]);
  assert.deepEqual(roundRobinOrder([2, 0]), [0]);
});

test('proportional: every batch once, seeded by (seed, epoch), proportions follow the sizes', () => {
  const a = proportionalOrder([6, 2], 42, 0);
  assert.deepEqual([...a].sort(), [0, 0, 0, 0, 0, 0, 1, 1]);
  assert.deepEqual(proportionalOrder([6, 2], 42, 0), a, 'same seed and epoch, same order');
  assert.notDeepEqual(proportionalOrder([30, 10], 42, 1), proportionalOrder([30, 10], 42, 0), 'each epoch its own order');
  // Over many seeds, the first batch comes from dataset 0 about 3 times in 4 (counts 30:10).
  let first0 = 0;
  for (let seed = 0; seed < 2000; seed++) first0 += proportionalOrder([30, 10], seed, 0)[0] === 0 ? 1 : 0;
  assert.ok(Math.abs(first0 / 2000 - 0.75) < 0.04, `first batch from dataset 0 in ${first0 / 2000} of runs`);
  // and the batches keep their order within a dataset
  const batches = interleaveBatches([[['a1'], ['a2'], ['a3']], [['b1']]], 'proportional', { seed: 1, epoch: 0 });
  assert.deepEqual(batches.filter((b) => b.dataset === 0).map((b) => b.examples[0]), ['a1', 'a2', 'a3']);
});

test('a list resolves names and inherits data.* / loss.*; batches never mix datasets; both samplers', () => {
  const r = mk();
  const list = r.data.train as Exclude<Recipe['data']['train'], string>;
  assert.deepEqual(list.map((d) => [d.name, d.loss.name, d.columns.label]), [['sts', 'cosine_mse', 'score'], ['qa', 'multiple_negatives_ranking', null]]);
  assert.equal(r.training.no_duplicates, true, 'one in-batch-negative dataset keeps duplicates apart');
  assert.equal(r.training.multi_dataset_sampler, 'proportional');
  const data = loadRunData(r);
  const sets = trainSetsOf(data, buildLoss(r));
  assert.deepEqual(sets.map((s) => [s.name, s.loss.name, s.end - s.start]), [['sts', 'cosine_mse', 12], ['qa', 'multiple_negatives_ranking', 20]]);
  const home = (t: string) => (t.startsWith('sts ') ? 0 : 1);
  for (const sampler of ['proportional', 'round_robin'] as const) {
    const rr = mk({ multi_dataset_sampler: sampler });
    const batches = epochBatches(rr, data.train, sets, 0);
    for (const b of batches) assert.ok(b.examples.every((e) => home(e.texts[0]) === b.dataset), `${sampler}: a batch mixes datasets or names the wrong one`);
    const counts = [0, 1].map((d) => batches.filter((b) => b.dataset === d).length);
    // 12 rows / 4 = 3 batches, 20 rows / 4 = 5 batches
    if (sampler === 'proportional') assert.deepEqual(counts, [3, 5], 'proportional uses every batch');
    else assert.deepEqual(batches.map((b) => b.dataset), [0, 1, 0, 1, 0, 1], 'round robin stops when sts runs out');
    assert.deepEqual(epochBatches(rr, data.train, sets, 0), batches, 'a pure function of (seed, epoch)');
  }
});

for (const backend of TEST_BACKENDS) test(`each batch is trained with its own dataset's loss and reported as loss/<name> (${backend})`, async () => {
  const engine = await useBackend(backend);
  const r = mk({ max_steps: 4, shuffle: false });
  const data = loadRunData(r);
  const sets = trainSetsOf(data, buildLoss(r));
  const batches = epochBatches(r, data.train, sets, 0);
  const res = await train(r, { ...quiet, ...engine, skipSave: true });
  // Step 1's loss is computed on the initial weights: recompute it with each loss.
  const enc = await loadEncoder('builtin:tiny', { seed: r.training.seed });
  enc.setMaxSeqLength(16);
  const first = batches[0];
  const lossWith = (name: 'cosine_mse' | 'multiple_negatives_ranking') =>
    tf.tidy(() => {
      const loss = lossFromSpec({ ...r.loss, name });
      const emb = [0, 1].map((c) => enc.forward(enc.tokenize(first.examples.map((e) => e.texts[c]))));
      const labels = loss.needsLabel ? tf.tensor1d(first.examples.map((e) => e.label ?? 0)) : null; // 0: the unlabelled dataset under a scored loss
      return loss.lossFromEmbeddings(emb, labels).dataSync()[0];
    });
  const own = sets[first.dataset].loss.name as 'cosine_mse' | 'multiple_negatives_ranking';
  const other = own === 'cosine_mse' ? 'multiple_negatives_ranking' : 'cosine_mse';
  const [want, wrong] = [lossWith(own), lossWith(other)];
  enc.dispose();
  assert.ok(Math.abs(res.losses[0] - want) < 1e-4, `step 1 loss ${res.losses[0]} vs ${own} ${want}`);
  assert.ok(Math.abs(res.losses[0] - wrong) > 1e-2, `the other loss would give another value (${wrong})`);
  // metrics.jsonl: each step's row names its batch's dataset (log_every 1, one batch a step)
  const rows = readFileSync(join(r.output.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>).filter((x) => x.type === 'train');
  assert.equal(rows.length, 4);
  for (const [i, row] of rows.entries()) {
    const name = sets[batches[i].dataset].name;
    assert.deepEqual(Object.keys(row).filter((k) => k.startsWith('loss/')), [`loss/${name}`], `step ${i + 1}`);
    assert.equal(row[`loss/${name}`], row.loss);
  }
});

test('kill at step 3, then resume: weights and metrics bit-identical to an uninterrupted run', async () => {
  const engine = await useBackend(TEST_BACKENDS[0]);
  const training = { epochs: 2, checkpoint_every: 2, log_every: 3 };
  const full = mk(training);
  const ref = await train(full, { ...quiet, ...engine, skipSave: true });
  const cut = mk(training);
  const stop = new AbortController();
  await assert.rejects(train(cut, { ...quiet, ...engine, skipSave: true, signal: stop.signal, onStep: (s) => s.step === 3 && stop.abort() }), TrainingAborted);
  const resumed = await train(cut, { ...quiet, ...engine, skipSave: true, resume: true });
  assert.equal(resumed.steps, ref.steps);
  assert.equal(resumed.weightsHash, ref.weightsHash);
  assert.deepEqual(resumed.losses, ref.losses);
  const trainRows = (rec: Recipe) =>
    readFileSync(join(rec.output.dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((x) => x.type === 'train')
      .map(({ time, ...rest }) => (void time, rest));
  const want = trainRows(full);
  assert.ok(want.some((row) => 'loss/sts' in row && 'loss/qa' in row), 'a row averaging both datasets since the last one');
  assert.deepEqual(trainRows(cut), want, 'loss/<name> sums survive the resume');
});

test('recipe errors of a data.train list: one line per problem with its path', () => {
  const bad = (train: unknown, extra: Record<string, unknown> = {}) => {
    try {
      parseRecipe({ model: { base: 'builtin:tiny' }, data: { train }, output: { dir: join(dir, 'bad') }, ...extra }, { baseDir: dir });
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return (e as Error).message;
    }
    assert.fail('no error');
  };
  assert.match(bad([{ file: STS }, { file: STS }]), /data\.train\[1\]\.name: 'sts' is also the name of data\.train\[0\]/);
  assert.match(bad([{ file: QA, columns: { texts: ['anchor', 'positive'], label: null } }]), /data\.train\[0\]\.columns\.label: loss 'cosine_mse' needs a label column/);
  assert.match(bad([{ file: STS, loss: { name: 'triplet' } }]), /data\.train\[0\]\.columns\.texts: loss 'triplet' needs 3 text columns/);
  assert.match(bad([{ file: STS, loss: { name: 'cosine_mse', margin: 1 } }]), /data\.train\[0\]\.loss\.margin: not used by loss 'cosine_mse'/);
  assert.match(bad([{ file: 'missing.csv' }]), /data\.train\[0\]\.file: file not found/);
  assert.match(bad([{ file: STS, wieght: 2 }]), /data\.train\[0\]\.wieght: unknown key/);
  assert.match(bad([{ file: STS }], { data: { train: [{ file: STS }], validation_split: 0.2 } }), /data\.validation_split: with a list in data\.train, give data\.dev/);
  assert.match(bad([{ file: STS, name: 'a b' }]), /data\.train\[0\]\.name: 'a b' must be letters/);
  assert.match(bad([]), /data\.train: must list at least 1 item/);
  assert.match(bad([{ file: STS }], { task: 'mlm' }), /data\.train: a list of datasets trains the embedding task only, not task 'mlm'/);
  assert.match(bad([{ file: STS }], { training: { multi_dataset_sampler: 'roundrobin' } }), /training\.multi_dataset_sampler: must be one of proportional, round_robin.*did you mean 'round_robin'/);
});

test('the model card and metrics name each dataset', async () => {
  const engine = await useBackend(TEST_BACKENDS[0]);
  const r = mk({ max_steps: 2 });
  const res = await train(r, { ...quiet, ...engine });
  const card = readFileSync(join(res.modelDir!, 'README.md'), 'utf8');
  assert.match(card, /\| train: sts \(loss `cosine_mse`\) \| `sts\.csv` \| 12 \|/);
  assert.match(card, /\| train: qa \(loss `multiple_negatives_ranking`\) \| `qa\.csv` \| 20 \|/);
  assert.match(card, /multi_dataset_sampler: proportional/);
  assert.match(readFileSync(join(r.output.dir, 'report.json'), 'utf8'), /sts \(cosine_mse; loss\/sts in metrics\.jsonl\), qa \(multiple_negatives_ranking; loss\/qa in metrics\.jsonl\)/);
});

test('a list of one dataset trains exactly as the same file given alone (one batching definition)', async () => {
  const engine = await useBackend(TEST_BACKENDS[0]);
  const base = (train: unknown) =>
    parseRecipe(
      { model: { base: 'builtin:tiny', max_seq_length: 16 }, data: { train, score_scale: [0, 5] }, training: { batch_size: 4, max_steps: 3, checkpoint_every: null }, output: { dir: mkdtempSync(join(tmpdir(), 'multi-one-')) } },
      { baseDir: dir },
    );
  const alone = await train(base(STS), { ...quiet, ...engine, skipSave: true });
  const listed = await train(base([{ file: STS }]), { ...quiet, ...engine, skipSave: true });
  assert.deepEqual(listed.losses, alone.losses);
  assert.equal(listed.weightsHash, alone.weightsHash);
});
