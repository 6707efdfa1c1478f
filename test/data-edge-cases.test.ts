/**
 * Data that used to train silently or crash mid-run, checked without a model: labels that are
 * not plain decimals, jsonl texts that are not strings, labels outside the loss's declared
 * range, dev sets Pearson/Spearman cannot score, batches too small for in-batch negatives
 * (every loss at batch sizes 1 and 2), the advice of the NaN abort, and the data fingerprint
 * a resume compares.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadPairs } from '../src/data/pairs.js';
import { createLoss } from '../src/losses/index.js';
import { LOSS_NAMES } from '../src/recipe/schema.js';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { batchesFor, buildLoss, checkResumeData, divergenceAdvice, loadRunData, type DataFingerprints } from '../src/training/data.js';
import { ConfigError, DataError, UserError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sbert-edge-'));
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  await initBackend('cpu', { quiet: true });
});

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** A csv of `n` distinct pairs with the given scores (null: no score column). */
function pairsCsv(name: string, scores: (number | string)[] | null, n = scores?.length ?? 0): string {
  const rows = Array.from({ length: n }, (_, i) => `first text ${i},second text ${i}${scores ? `,${scores[i]}` : ''}`);
  return file(name, [`sentence1,sentence2${scores ? ',score' : ''}`, ...rows].join('\n') + '\n');
}

function recipe(data: Record<string, unknown>, loss = 'cosine_mse', training: Record<string, unknown> = {}, evaluation: Record<string, unknown> = {}): Recipe {
  return parseRecipe({ model: { base: 'builtin:tiny' }, data, loss: { name: loss }, training, evaluation, output: { dir: join(dir, 'run') } }, { baseDir: dir });
}

/** Assert a one-line user error matching `re`. */
function oneLine(type: typeof UserError, re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.ok(!(e as Error).message.includes('\n'), `one line: ${(e as Error).message}`);
    assert.match((e as Error).message, re);
    return true;
  };
}

/** Run `fn` with stderr captured. */
function captureStderr<T>(fn: () => T): { value: T; stderr: string } {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: fn(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe('scores: only decimal numbers', () => {
  test('0x10, 0o7, Infinity, 0b1 and booleans are bad rows, not 16, 7, Infinity, 1 and 1', () => {
    const p = file('hex.csv', 'sentence1,sentence2,score\na,b,0x10\nc,d, 0o7\ne,f,Infinity\ng,h,0b1\ni,j,0.5\n');
    assert.throws(
      () => loadPairs(p),
      oneLine(DataError, /4 bad rows: .*hex\.csv:2 \(score '0x10' is not a plain decimal number.*hex\.csv:3 \(score ' 0o7' is not a plain decimal.*hex\.csv:4 \(score 'Infinity' is not a number\).*hex\.csv:5 \(score '0b1' is not a plain decimal/),
    );
    const j = file('bool.jsonl', '{"sentence1": "a", "sentence2": "b", "score": true}\n');
    assert.throws(() => loadPairs(j), oneLine(DataError, /bool\.jsonl:1 \(score 'true' is not a number\)/));
  });
  test('decimals with a sign, a leading dot, an exponent (as Python writes 1e-05) or spaces around them are read', () => {
    const p = file('ok.csv', 'sentence1,sentence2,score\na,b,-0.5\nc,d,.25\ne,f, 3 \ng,h,+1.\nk,l,1e-05\n');
    assert.deepEqual(
      loadPairs(p).examples.map((e) => e.label),
      [-0.5, 0.25, 3, 1, 1e-5],
    );
    const j = file('num.jsonl', '{"sentence1": "a", "sentence2": "b", "score": 0.75}\n');
    assert.equal(loadPairs(j).examples[0].label, 0.75);
  });
});

describe('jsonl texts must be strings', () => {
  for (const [what, value, said] of [
    ['a number', '42', /a number \(42\)/],
    ['a boolean', 'true', /a boolean \(true\)/],
    ['an object', '{"t": "x"}', /an object/],
    ['an array', '["x"]', /an array/],
    ['null', 'null', /null/],
  ] as const) {
    test(`${what} in a text column is an error naming file:line (objects and arrays)`, () => {
      const obj = file(`t-${what}.jsonl`, `{"sentence1": "fine", "sentence2": "ok", "score": 0.5}\n{"sentence1": ${value}, "sentence2": "b", "score": 0.5}\n`);
      assert.throws(() => loadPairs(obj), oneLine(DataError, new RegExp(`t-${what}\\.jsonl:2 \\(sentence1 is ${said.source}.*not a text string`)));
      const arr = file(`a-${what}.jsonl`, `["fine", "ok", 0.5]\n["b", ${value}, 0.5]\n`);
      assert.throws(() => loadPairs(arr, { columns: { texts: [0, 1], label: 2 } }), oneLine(DataError, new RegExp(`a-${what}\\.jsonl:2 \\(1 is ${said.source}`)));
    });
  }
  test('a jsonl array keeps its numbers as numbers, so an index-mapped score still reads', () => {
    const arr = file('arr-ok.jsonl', '["a", "b", 0.5]\n["c", "d", "0.25"]\n');
    assert.deepEqual(loadPairs(arr, { columns: { texts: [0, 1], label: 2 } }).examples, [
      { texts: ['a', 'b'], label: 0.5 },
      { texts: ['c', 'd'], label: 0.25 },
    ]);
  });
});

describe('labels must fit the loss', () => {
  test('each loss declares the labels it is defined on', () => {
    const declared = Object.fromEntries(LOSS_NAMES.map((n) => [n, createLoss(n).labelRange]));
    assert.deepEqual(declared, {
      cosine_mse: { kind: 'interval', min: -1, max: 1 },
      angular_mse: { kind: 'interval', min: 0, max: 1 },
      contrastive: { kind: 'binary' },
      online_contrastive: { kind: 'binary' },
      multiple_negatives_ranking: null,
      cosent: null,
      triplet: null,
      multiple_negatives_symmetric_ranking: null,
      angle: null,
    });
  });
  test('-3, 7, 500 without data.score_scale: one line naming file:line and the score_scale that fits', () => {
    const p = pairsCsv('big.csv', [0.5, -3, 7, 0.2, 500]);
    for (const loss of ['cosine_mse', 'angular_mse']) {
      assert.throws(
        () => loadRunData(recipe({ train: p }, loss)),
        oneLine(DataError, new RegExp(`^data\\.train .*big\\.csv: 3 labels outside what loss ${loss} needs .*big\\.csv:3 \\(-3\\); .*big\\.csv:4 \\(7\\); .*big\\.csv:6 \\(500\\); .*set data\\.score_scale: \\[-3, 500\\]`)),
      );
    }
    // The advised scale makes the same file load.
    assert.equal(loadRunData(recipe({ train: p, score_scale: [-3, 500] })).train.length, 5);
    // CoSENT uses only the order of the labels: any scale is fine.
    assert.equal(loadRunData(recipe({ train: p }, 'cosent')).train.length, 5);
  });
  test('contrastive losses need 0 or 1: two classes get the mapping, three get other advice; dev is checked too', () => {
    const pm = pairsCsv('pm1.csv', [1, -1, 1, -1]);
    assert.throws(() => loadRunData(recipe({ train: pm }, 'contrastive')), oneLine(DataError, /pm1\.csv:3 \(-1\).*set data\.score_scale: \[-1, 1\] to map -1 to 0/));
    assert.equal(loadRunData(recipe({ train: pm, score_scale: [-1, 1] }, 'online_contrastive')).train[1].label, 0);
    const three = pairsCsv('nli.csv', [0, 1, 2]);
    assert.throws(() => loadRunData(recipe({ train: three }, 'contrastive')), oneLine(DataError, /nli\.csv:4 \(2\).*for graded scores use cosine_mse or cosent/));
    const ok = pairsCsv('ok01.csv', [0, 1, 1, 0]);
    assert.throws(() => loadRunData(recipe({ train: ok, dev: three }, 'contrastive')), oneLine(DataError, /^data\.dev .*nli\.csv: 1 label outside/));
  });
});

describe('dev sets the evaluator can score', () => {
  test('a dev set whose scores are all equal is refused at load', () => {
    const train = pairsCsv('tr.csv', [0.1, 0.9, 0.5]);
    const flat = pairsCsv('flat.csv', [0.5, 0.5, 0.5, 0.5]);
    assert.throws(() => loadRunData(recipe({ train, dev: flat })), oneLine(DataError, /^data\.dev .*flat\.csv: scores have no variance \(all 0\.5\); Pearson\/Spearman are undefined$/));
    assert.throws(() => loadRunData(recipe({ train, test: flat })), oneLine(DataError, /^data\.test .*flat\.csv: scores have no variance/));
    assert.equal(loadRunData(recipe({ train, dev: train })).dev!.length, 3);
  });
  test('a one-row dev file is refused at load', () => {
    const train = pairsCsv('tr1.csv', [0.1, 0.9, 0.5]);
    const one = pairsCsv('one.csv', [0.5]);
    assert.throws(() => loadRunData(recipe({ train, dev: one })), oneLine(DataError, /^data\.dev .*one\.csv: 1 example; an evaluation set needs at least 2 rows/));
  });
});

describe('batches too small for in-batch negatives', () => {
  test('17 rows at batch 8: the short last batch is dropped every epoch, said once, order still a function of (seed, epoch)', () => {
    const p = pairsCsv('mnrl17.csv', null, 17);
    const r = recipe({ train: p, columns: { label: null } }, 'multiple_negatives_ranking', { batch_size: 8 });
    const { value: data, stderr } = captureStderr(() => loadRunData(r));
    assert.match(stderr, /mnrl17\.csv: batches smaller than 2 give loss multiple_negatives_ranking no in-batch negative and are dropped \(epoch 1 drops 1 of 17 examples\)/);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    for (const epoch of [0, 1, 2]) {
      const batches = batchesFor(r, data.train, epoch);
      assert.deepEqual(batches.map((b) => b.length), [8, 8], `epoch ${epoch}`);
      assert.deepEqual(batchesFor(r, data.train, epoch), batches, 'same (seed, epoch), same batches');
    }
    assert.notDeepEqual(batchesFor(r, data.train, 0), batchesFor(r, data.train, 1), 'each epoch has its own order');
  });
  test('a one-row file, or rows that all repeat one text, cannot form a batch: one line before training', () => {
    const one = pairsCsv('mnrl1.csv', null, 1);
    assert.throws(
      () => loadRunData(recipe({ train: one, columns: { label: null } }, 'multiple_negatives_ranking', { batch_size: 8 })),
      oneLine(DataError, /^data\.train .*mnrl1\.csv: 1 example cannot form one batch of 2 for loss multiple_negatives_ranking/),
    );
    const dup = file('dup.csv', 'sentence1,sentence2\n' + 'same question,same answer\n'.repeat(6));
    assert.throws(
      () => loadRunData(recipe({ train: dup, columns: { label: null } }, 'multiple_negatives_ranking', { batch_size: 4 })),
      oneLine(DataError, /dup\.csv: 6 examples cannot form one batch of 2 .*training\.no_duplicates keeps repeated texts apart/),
    );
  });
  test('a batch size below the loss minimum is a recipe problem', () => {
    const p = pairsCsv('mnrl4.csv', null, 4);
    assert.throws(
      () => recipe({ train: p, columns: { label: null } }, 'multiple_negatives_ranking', { batch_size: 1 }, { batch_size: 1 }),
      (e: unknown) => e instanceof ConfigError && /training\.batch_size: loss 'multiple_negatives_ranking' needs batches of at least 2/.test(e.message) && /evaluation\.batch_size: loss/.test(e.message),
    );
  });

  /** Data a loss accepts: its text columns and, when it takes labels, labels in its range. */
  function dataFor(name: string, n: number): { train: string; columns: Record<string, unknown> } {
    const loss = createLoss(name);
    const range = loss.labelRange;
    const label = (i: number) => (range?.kind === 'binary' ? i % 2 : [0.2, 0.8, 0.5][i % 3]);
    const cols = Array.from({ length: loss.columns }, (_, c) => `t${c}`);
    const rows = Array.from({ length: n }, (_, i) => [...cols.map((c) => `${c} text ${i}`), ...(loss.needsLabel ? [label(i)] : [])].join(','));
    const head = [...cols, ...(loss.needsLabel ? ['score'] : [])].join(',');
    return { train: file(`every-${name}.csv`, [head, ...rows].join('\n') + '\n'), columns: { texts: cols, label: loss.needsLabel ? 'score' : null } };
  }

  for (const name of LOSS_NAMES) {
    test(`${name}: at batch sizes 1 and 2 every batch the trainer hands out gives a finite loss and gradient`, () => {
      const loss = createLoss(name);
      for (const size of [1, 2]) {
        const data = dataFor(name, 3); // 3 examples: at batch 2 the last batch holds 1
        if (size < loss.minBatch) {
          assert.throws(() => recipe(data, name, { batch_size: size }, { batch_size: size }), ConfigError, `${name} at batch ${size} is refused by the recipe rules`);
          continue;
        }
        const r = recipe(data, name, { batch_size: size }, { batch_size: size });
        const { value: run } = captureStderr(() => loadRunData(r));
        const built = buildLoss(r);
        for (const epoch of [0, 1]) {
          const batches = batchesFor(r, run.train, epoch);
          assert.ok(batches.length > 0);
          for (const batch of batches) {
            assert.ok(batch.length >= built.minBatch, `${name}: a batch of ${batch.length}`);
            const before = tf.memory().numTensors;
            const embeddings = Array.from({ length: batch[0].texts.length }, () => tf.randomNormal([batch.length, 4], 0, 1, 'float32', 7) as tf.Tensor2D);
            const labels = built.needsLabel ? tf.tensor1d(batch.map((e) => e.label!)) : null;
            const { value, grads } = tf.tidy(() => {
              const g = tf.valueAndGrads((...es: tf.Tensor[]) => built.lossFromEmbeddings(es as tf.Tensor2D[], labels));
              return g(embeddings);
            });
            assert.ok(Number.isFinite(value.dataSync()[0]), `${name} batch ${batch.length}: loss ${value.dataSync()[0]}`);
            for (const g of grads) assert.ok(g.dataSync().every(Number.isFinite), `${name} batch ${batch.length}: gradient not finite`);
            tf.dispose([value, ...grads, ...embeddings, ...(labels ? [labels] : [])]);
            assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
          }
        }
      }
    });
  }
  test('a one-example batch without a hard negative is named as such, not a oneHot error', () => {
    const l = createLoss('multiple_negatives_ranking');
    const a = tf.tensor2d([[1, 0]]);
    assert.throws(() => l.lossFromEmbeddings([a, a], null), /multiple_negatives_ranking: a batch of one example without a hard negative/);
    a.dispose();
  });
});

describe('the NaN abort advises what fits the cause', () => {
  const mse = createLoss('cosine_mse');
  test('a huge label: rescale the labels, not a lower learning rate', () => {
    const advice = divergenceAdvice([[{ texts: ['a', 'b'], label: 1e20 }]], mse, 4);
    assert.match(advice, /label 100000000000000000000, outside what loss cosine_mse expects \(in \[-1, 1\]\): rescale the labels \(data\.score_scale\)/);
    assert.doesNotMatch(advice, /optimizer\.lr/);
    const cosent = divergenceAdvice([[{ texts: ['a', 'b'], label: 1e30 }]], createLoss('cosent'), 4);
    assert.match(cosent, /overflow.*data\.score_scale/);
  });
  test('the first step, before any update: not the learning rate; later steps: the learning rate', () => {
    const batch = [[{ texts: ['a', 'b'], label: 0.5 }]];
    assert.doesNotMatch(divergenceAdvice(batch, mse, 0), /optimizer\.lr/);
    assert.match(divergenceAdvice(batch, mse, 0), /before any update/);
    assert.match(divergenceAdvice(batch, mse, 3), /lower optimizer\.lr/);
  });
});

describe('data fingerprints for --resume', () => {
  test('a loaded run records each file: rows and sha256 of the bytes', () => {
    const train = pairsCsv('fp.csv', [0.1, 0.9, 0.5]);
    const dev = pairsCsv('fpdev.csv', [0.2, 0.7]);
    const d = loadRunData(recipe({ train, dev }));
    assert.equal(d.fingerprints.train!.rows, 3);
    assert.equal(d.fingerprints.dev!.rows, 2);
    assert.match(d.fingerprints.train!.sha256, /^[0-9a-f]{64}$/);
    assert.equal(d.fingerprints.test, undefined);
    pairsCsv('fp.csv', [0.1, 0.9, 0.6]); // same rows, one byte different
    assert.notEqual(loadRunData(recipe({ train, dev })).fingerprints.train!.sha256, d.fingerprints.train!.sha256);
  });
  test('a changed file is refused in one line naming it, unless allowed; an old checkpoint without fingerprints is let through', () => {
    const saved: DataFingerprints = { train: { file: '/d/train.csv', rows: 17, sha256: 'a'.repeat(64) }, dev: { file: '/d/dev.csv', rows: 4, sha256: 'b'.repeat(64) } };
    const logs: string[] = [];
    const log = (l: string) => logs.push(l);
    checkResumeData(saved, saved, '/run/ck', false, log);
    assert.deepEqual(logs, []);
    const now: DataFingerprints = { ...saved, train: { file: '/d/train.csv', rows: 15, sha256: 'c'.repeat(64) } };
    assert.throws(() => checkResumeData(now, saved, '/run/ck', false, log), oneLine(UserError, /^--resume: data\.train \/d\/train\.csv \(17 rows then, 15 rows now, different bytes\) changed since the checkpoint .*--allow-changed-data/));
    checkResumeData(now, saved, '/run/ck', true, log);
    assert.match(logs.join('\n'), /continuing on changed data \(--allow-changed-data\): data\.train \/d\/train\.csv/);
    checkResumeData(now, undefined, '/run/ck', false, log);
    assert.match(logs.at(-1)!, /predates data fingerprints/);
  });
});
