/**
 * Triplet and paraphrase-mining evaluators against values computed independently with numpy,
 * scipy and scikit-learn (benchmarks/peers/triplet_paraphrase_fixture.py, committed output in
 * test/fixtures/metrics/triplet_paraphrase.json), on the same fixed embeddings; hand-made cases;
 * and the encoder-driven evaluators on an encoder that returns those embeddings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Encoder } from '../src/models/types.js';
import { EVALUATOR_METRICS, EVALUATOR_PRIMARY, evaluateParaphraseMining, evaluateTriplets, fileEvaluator, minePairs, paraphraseMiningMetrics, tripletAccuracy, tripletMetrics } from '../src/evaluation/index.js';
import { initBackend } from '../src/backend/index.js';
import { ConfigError } from '../src/errors.js';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { train } from '../src/training/index.js';
import { isOneLineUserError, runCli } from './helpers/cli.js';

const ROOT = join(import.meta.dirname, '..');
interface Fixture {
  triplet: { anchors: number[][]; positives: number[][]; negatives: number[][]; expected: Record<string, number> };
  paraphrase: { embeddings: number[][]; gold: [number, number][]; cases: Array<{ top_k: number; mined_pairs?: number; expected: Record<string, number> }> };
}
const FIX = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'metrics', 'triplet_paraphrase.json'), 'utf8')) as Fixture;
const rows = (xs: number[][]) => xs.map((r) => Float32Array.from(r));

/** An encoder that maps each text to a fixed row (text `s<i>` -> row i); only `encode` is used. */
function lookupEncoder(table: Map<string, Float32Array>): Encoder {
  return {
    dim: table.values().next().value!.length,
    async encode(texts: string[]) {
      return texts.map((t) => {
        const r = table.get(t);
        if (!r) throw new Error(`no row for ${t}`);
        return r;
      });
    },
  } as unknown as Encoder;
}

test('tripletAccuracy: strict comparison with an optional margin, by hand', () => {
  assert.equal(tripletAccuracy([0.9, 0.5, 0.3, 0.2], [0.1, 0.5, 0.4, 0.1]), 0.5); // the tie at 0.5 is a miss
  assert.equal(tripletAccuracy([0.9, 0.5, 0.3, 0.2], [0.1, 0.5, 0.4, 0.1], 0.2), 0.25);
  assert.ok(Number.isNaN(tripletAccuracy([], [])));
  assert.throws(() => tripletAccuracy([1], [1, 2]), /1 vs 2/);
});

test('tripletMetrics: accuracy for each similarity equals the scipy / numpy fixture', () => {
  const t = FIX.triplet;
  const m = tripletMetrics(rows(t.anchors), rows(t.positives), rows(t.negatives));
  for (const fn of ['cosine', 'dot', 'euclidean', 'manhattan', 'max']) {
    assert.equal(m[`${fn}_accuracy`], t.expected[`${fn}_accuracy`], `${fn}_accuracy`);
  }
  // the fixture is not degenerate: the similarities disagree on some triplets
  assert.notEqual(t.expected.cosine_accuracy, t.expected.euclidean_accuracy);
});

test('evaluateTriplets: encodes the three columns, prefixes by name, primary cosine_accuracy', async () => {
  const t = FIX.triplet;
  const table = new Map<string, Float32Array>();
  const triplets = t.anchors.map((_, i) => {
    table.set(`a${i}`, Float32Array.from(t.anchors[i]));
    table.set(`p${i}`, Float32Array.from(t.positives[i]));
    table.set(`n${i}`, Float32Array.from(t.negatives[i]));
    return { anchor: `a${i}`, positive: `p${i}`, negative: `n${i}` };
  });
  const r = await evaluateTriplets(lookupEncoder(table), triplets, { name: 'nli-dev' });
  assert.equal(r.primaryMetric, 'nli-dev_cosine_accuracy');
  assert.equal(r.metrics['nli-dev_cosine_accuracy'], t.expected.cosine_accuracy);
  assert.equal(r.metrics['nli-dev_manhattan_accuracy'], t.expected.manhattan_accuracy);
});

test('paraphraseMiningMetrics: AP counts unmined gold pairs as misses; F1 cut and midpoint threshold, by hand', () => {
  // ranked: (0.9 gold) (0.8 no) (0.7 gold) (0.6 no); 3 gold pairs, one never mined
  const ranked = [
    { score: 0.9, i: 0, j: 1 },
    { score: 0.8, i: 0, j: 2 },
    { score: 0.7, i: 2, j: 3 },
    { score: 0.6, i: 1, j: 3 },
  ];
  const gold = new Set(['0,1', '2,3', '4,5']);
  const m = paraphraseMiningMetrics(ranked, (i, j) => gold.has(`${i},${j}`), 3);
  assert.ok(Math.abs(m.average_precision - (1 + 2 / 3) / 3) < 1e-12);
  // F1 after rank 1: P 1, R 1/3 -> 0.5; after rank 3: P 2/3, R 2/3 -> 2/3 (best)
  assert.ok(Math.abs(m.f1 - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m.threshold - 0.65) < 1e-12);
});

test('minePairs + paraphraseMiningMetrics equal the scikit-learn / numpy fixture (all pairs and top_k 2)', () => {
  const p = FIX.paraphrase;
  const emb = rows(p.embeddings);
  const gold = new Set(p.gold.map(([i, j]) => `${i},${j}`));
  for (const c of p.cases) {
    const ranked = minePairs(emb, { topK: c.top_k });
    if (c.mined_pairs !== undefined) assert.equal(ranked.length, c.mined_pairs, `top_k ${c.top_k}: mined pairs`);
    else assert.equal(ranked.length, (emb.length * (emb.length - 1)) / 2);
    const m = paraphraseMiningMetrics(ranked, (i, j) => gold.has(`${i},${j}`), gold.size);
    for (const k of ['average_precision', 'f1', 'precision', 'recall']) assert.ok(Math.abs(m[k] - c.expected[k]) < 1e-9, `top_k ${c.top_k} ${k}: ${m[k]} vs ${c.expected[k]}`);
    // scores are float32 here, float64 in the fixture
    assert.ok(Math.abs(m.threshold - c.expected.threshold) < 1e-6, `top_k ${c.top_k} threshold: ${m.threshold} vs ${c.expected.threshold}`);
  }
});

test('minePairs: max_pairs keeps the best pairs, each unordered pair once', () => {
  const emb = rows(FIX.paraphrase.embeddings);
  const all = minePairs(emb, { topK: emb.length });
  const cut = minePairs(emb, { topK: emb.length, maxPairs: 5 });
  assert.deepEqual(cut, all.slice(0, 5));
  assert.ok(all.every((p) => p.i < p.j));
  assert.equal(new Set(all.map((p) => `${p.i},${p.j}`)).size, all.length);
});

test('evaluateParaphraseMining: sentences and gold pairs by text, name prefix, primary average_precision', async () => {
  const p = FIX.paraphrase;
  const table = new Map(p.embeddings.map((r, i) => [`s${i}`, Float32Array.from(r)] as const));
  const data = { sentences: [...table.keys()], duplicates: p.gold.map(([i, j]) => [`s${j}`, `s${i}`] as [string, string]) }; // order within a pair does not matter
  const c = p.cases.find((x) => x.top_k === 2)!;
  const r = await evaluateParaphraseMining(lookupEncoder(table), data, { name: 'quora', topK: 2 });
  assert.equal(r.primaryMetric, 'quora_average_precision');
  assert.ok(Math.abs(r.metrics.quora_average_precision - c.expected.average_precision) < 1e-9);
  assert.ok(Math.abs(r.metrics.quora_f1 - c.expected.f1) < 1e-9);
  await assert.rejects(evaluateParaphraseMining(lookupEncoder(table), { sentences: ['s0'], duplicates: [['s0', 'zz']] }), /not in the collection/);
});

// ---- during training: evaluation.evaluators, the monitor by name ----

const tmp = mkdtempSync(join(tmpdir(), 'evaluators-'));
function writeCsv(name: string, header: string, rows: string[]): string {
  writeFileSync(join(tmp, name), `${[header, ...rows].join('\n')}\n`);
  return name;
}
const TRAIN = writeCsv('train.csv', 'sentence1,sentence2,score', ['a cat sits,a cat is sitting,5', 'a dog runs,a dog is running,4', 'stocks fell,the market dropped,4', 'rain today,it is raining,5', 'a cat sits,stocks fell,0', 'rain today,a dog runs,1', 'the sun is out,it is sunny,5', 'it is sunny,a cat sits,1']);
const TRIPLETS = writeCsv('trip.csv', 'anchor,positive,negative', ['a cat sits,a cat is sitting,stocks fell', 'a dog runs,a dog is running,rain today', 'rain today,it is raining,a cat sits', 'stocks fell,the market dropped,the sun is out']);
const PARA = writeCsv('para.csv', 'q1,q2,dup', ['a cat sits,a cat is sitting,1', 'a dog runs,a dog is running,1', 'rain today,stocks fell,0', 'the sun is out,it is sunny,1', 'a cat sits,a dog runs,0']);

function trainRecipe(evaluation: Record<string, unknown>, data: Record<string, unknown> = {}): Recipe {
  return parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16 },
      data: { train: TRAIN, score_scale: [0, 5], ...data },
      training: { batch_size: 4, epochs: 2, checkpoint_every: null },
      evaluation: {
        evaluators: [
          { type: 'triplet', file: TRIPLETS, name: 'trip', columns: { texts: ['anchor', 'positive', 'negative'], label: null } },
          { type: 'paraphrase_mining', file: PARA, columns: { texts: ['q1', 'q2'], label: 'dup' } },
        ],
        ...evaluation,
      },
      output: { dir: mkdtempSync(join(tmpdir(), 'evaluators-run-')) },
    },
    { baseDir: tmp },
  );
}

test('evaluators run at every evaluation during training; the monitor is picked by name', async () => {
  await initBackend('wasm', { quiet: true, training: true });
  const r = trainRecipe({ monitor: 'para_average_precision', every_steps: 1 });
  assert.equal(r.evaluation.mode, 'max');
  const seen: Array<Record<string, number>> = [];
  const res = await train(r, { log: () => {}, progress: false, skipSave: true, onEval: (e) => seen.push(e.metrics) });
  assert.ok(seen.length >= 4, `evaluations: ${seen.length}`);
  for (const m of seen) {
    for (const k of [...EVALUATOR_METRICS.triplet.map((x) => `trip_${x}`), ...EVALUATOR_METRICS.paraphrase_mining.map((x) => `para_${x}`)]) assert.ok(k in m, `missing ${k}`);
    assert.equal(Object.keys(m).length, EVALUATOR_METRICS.triplet.length + EVALUATOR_METRICS.paraphrase_mining.length, 'no dev set: only the evaluators');
  }
  const rows = readFileSync(join(r.output.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>).filter((x) => x.type === 'eval');
  assert.ok(rows.every((row) => typeof row.trip_cosine_accuracy === 'number'));
  const best = Math.max(...rows.map((row) => row.para_average_precision as number));
  assert.equal(res.best!.value, best, 'the best evaluation is the one with the highest monitored metric');
  assert.deepEqual(res.finalMetrics && Object.keys(res.finalMetrics).sort(), Object.keys(seen[0]).sort());
});

test('evaluation.monitor: defaults to the first evaluator without a dev set; a wrong name lists the valid ones', () => {
  assert.equal(trainRecipe({}).evaluation.monitor, 'trip_cosine_accuracy');
  assert.equal(trainRecipe({}, { dev: TRAIN }).evaluation.monitor, 'spearman_cosine');
  assert.equal(trainRecipe({ monitor: 'trip_euclidean_accuracy' }, { dev: TRAIN }).evaluation.monitor, 'trip_euclidean_accuracy');
  assert.throws(
    () => trainRecipe({ monitor: 'trip_accuracy' }),
    (e: unknown) => e instanceof ConfigError && /evaluation\.monitor: 'trip_accuracy' is reported by no evaluation; valid: trip_cosine_accuracy, .*para_average_precision/.test((e as Error).message) && !(e as Error).message.includes('dev_loss'),
  );
  assert.throws(() => trainRecipe({ monitor: 'nope' }, { dev: TRAIN }), /valid: dev_loss, pearson_cosine, .*trip_max_accuracy/);
  assert.throws(() => trainRecipe({ evaluators: [{ type: 'triplet', file: TRIPLETS }] }), /evaluation\.evaluators\[0\]\.columns\.texts: a triplet evaluator reads anchor, positive and negative; the mapping gives 2 text columns/);
  assert.throws(() => trainRecipe({ evaluators: [{ type: 'sts', file: 'nope.csv' }] }), /evaluation\.evaluators\[0\]\.file: file not found/);
  assert.throws(() => trainRecipe({ evaluators: [{ type: 'sts', file: TRAIN }, { type: 'binary', file: TRAIN }] }), /evaluation\.evaluators\[1\]\.name: 'train' is also the name of evaluation\.evaluators\[0\]/);
});

test('the metric names the rules know are the ones each evaluator reports', async () => {
  const table = new Map<string, Float32Array>();
  let i = 0;
  const enc = { dim: 3, encode: async (texts: string[]) => texts.map((t) => table.get(t) ?? (table.set(t, Float32Array.from([Math.sin(++i), Math.cos(i), i % 3])), table.get(t)!)) } as unknown as Encoder;
  for (const [type, file, columns] of [
    ['triplet', TRIPLETS, { texts: ['anchor', 'positive', 'negative'], label: null }],
    ['paraphrase_mining', PARA, { texts: ['q1', 'q2'], label: 'dup' }],
    ['sts', TRAIN, { texts: ['sentence1', 'sentence2'], label: 'score' }],
    ['retrieval', TRAIN, { texts: ['sentence1', 'sentence2'], label: null }],
    ['binary', PARA, { texts: ['q1', 'q2'], label: 'dup' }],
  ] as const) {
    const ev = fileEvaluator({ type, file: join(tmp, file), name: 'x', columns: { texts: [...columns.texts], label: columns.label } });
    const r = await ev.run(enc, { batchSize: 8 });
    assert.deepEqual(Object.keys(r.metrics).sort(), EVALUATOR_METRICS[type].map((m) => `x_${m}`).sort(), type);
    assert.equal(r.primaryMetric, `x_${EVALUATOR_PRIMARY[type]}`);
  }
});

test('sbert-train eval --triplets / --paraphrase: the same evaluators from the command line; a bad label is one line, exit 2', () => {
  const out = mkdtempSync(join(tmpdir(), 'eval-cli-'));
  const r = runCli(['eval', '--model', 'builtin:tiny', '--triplets', join(tmp, TRIPLETS), '--paraphrase', join(tmp, PARA), '--columns', 'q1,q2,dup', '--out', out, '--json', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout)['builtin:tiny'] as Record<string, number>;
  assert.deepEqual(Object.keys(m).sort(), [...EVALUATOR_METRICS.triplet.map((x) => `trip_${x}`), ...EVALUATOR_METRICS.paraphrase_mining.map((x) => `para_${x}`)].sort());
  assert.ok(m.trip_cosine_accuracy >= 0 && m.trip_cosine_accuracy <= 1 && m.para_average_precision > 0);
  const bad = writeCsv('bad-para.csv', 'q1,q2,dup', ['a,b,1', 'c,d,2']);
  const e = runCli(['eval', '--model', 'builtin:tiny', '--paraphrase', join(tmp, bad), '--columns', 'q1,q2,dup', '--out', out, '--backend', 'wasm']);
  assert.equal(e.code, 2, e.stderr);
  assert.ok(isOneLineUserError(e), e.stderr);
  assert.match(e.stderr, /--paraphrase .*bad-para\.csv:3: a paraphrase_mining evaluation needs labels 0 or 1, got 2/);
});

test('an unlabelled loss with a dev set may monitor an evaluator metric (not only dev_loss)', () => {
  const ok = parseRecipe(
    {
      model: { base: 'builtin:tiny' },
      data: { train: TRIPLETS, dev: TRIPLETS, columns: { texts: ['anchor', 'positive', 'negative'], label: null } },
      loss: { name: 'multiple_negatives_ranking' },
      evaluation: { evaluators: [{ type: 'triplet', file: TRIPLETS, name: 'trip' }], monitor: 'trip_cosine_accuracy' },
      output: { dir: join(tmp, 'mnrl') },
    },
    { baseDir: tmp },
  );
  assert.equal(ok.evaluation.monitor, 'trip_cosine_accuracy');
  assert.equal(ok.evaluation.evaluators[0].columns.texts.length, 3, 'columns from data.columns');
});
