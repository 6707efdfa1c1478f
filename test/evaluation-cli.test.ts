/**
 * `sbert-train eval` and `sbert-train heatmap` as a user runs them: reports on disk, metrics
 * on stdout, and one-line errors (exit 2) for bad input. The runs that embed are parametrised
 * over test/helpers/backends.ts (wasm and onnx), and the metrics must agree across backends;
 * the errors, refused before any model runs, are checked once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOneLineUserError, runCli, SHARED } from './helpers/cli.js';
import { agreeAcrossBackends, TEST_BACKENDS } from './helpers/backends.js';
import { pearson, spearman } from '../src/evaluation/metrics.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-eval-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const pairsFile = join(tmp, 'pairs.tsv');
writeFileSync(
  pairsFile,
  'a\tb\tsim\n' +
    [
      ['a cat sits on the mat', 'a cat is on the mat', 4.6],
      ['a man plays guitar', 'a man is playing the guitar', 4.8],
      ['the market fell today', 'a dog runs in a field', 0.1],
      ['two kids play football', 'children are playing soccer', 3.9],
      ['a woman slices onions', 'a woman is cutting an onion', 4.4],
      ['the sky is blue', 'stocks dropped sharply', 0],
    ]
      .map((r) => r.join('\t'))
      .join('\n') +
    '\n',
);

for (const backend of TEST_BACKENDS) test(`eval (${backend}): two models side by side on a generic tsv, --json metrics, and the three report files`, () => {
  const out = join(tmp, `report-${backend}`);
  const r = runCli(['eval', '--model', 'builtin:tiny', '--model', 'builtin:tiny', '--sts', pairsFile, '--columns', 'a,b,sim', '--out', out, '--json', '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  const metrics = JSON.parse(r.stdout) as Record<string, Record<string, number>>;
  // the same model twice gets two distinct names and, being deterministic, the same numbers
  assert.deepEqual(Object.keys(metrics), ['builtin:tiny', 'builtin:tiny (2)']);
  const a = metrics['builtin:tiny'];
  assert.equal(Object.keys(a).length, 8);
  assert.deepEqual(a, metrics['builtin:tiny (2)']);
  for (const v of Object.values(a)) assert.ok(v >= -1 && v <= 1);
  for (const f of ['report.json', 'report.md', 'report.html']) assert.ok(existsSync(join(out, f)), f);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(report.models[0].results[0].primaryMetric, 'pairs_spearman_cosine');
  // the scatter holds the per-pair cosines: recomputing the correlations from them agrees
  const s = report.scatter[0];
  assert.deepEqual(s.gold, [4.6, 4.8, 0.1, 3.9, 4.4, 0]);
  assert.ok(Math.abs(pearson(s.gold, s.predicted) - a.pairs_pearson_cosine) < 1e-12);
  assert.ok(Math.abs(spearman(s.gold, s.predicted) - a.pairs_spearman_cosine) < 1e-12);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| \*\*spearman_cosine\*\* \|/);
  // Every backend gives the numbers of the first (the engines agree to 1e-4 on embeddings).
  agreeAcrossBackends('eval --sts metrics', backend, a, 1e-4);
});

for (const backend of TEST_BACKENDS) test(`eval on STSb test (first 40 pairs) prints a table (${backend})`, { skip: SHARED ? false : 'no ../shared (STSb) on this machine' }, () => {
  const r = runCli(['eval', '--model', 'builtin:tiny', '--sts', 'stsb', '--split', 'test', '--limit', '40', '--out', join(tmp, `stsb-${backend}`), '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^stsb-test: 40 scored pairs \(.*sts-test\.csv\)\n/);
  assert.match(r.stdout, /\nmodel\s+stsb-test_spearman_cosine\n/);
  assert.match(r.stdout, /\nbuiltin:tiny\s+-?\d\.\d{4}\n/);
});

test('eval: a model that fails to load, a missing file, bad --columns, nothing to evaluate -> one-line errors, exit 2', () => {
  const noModel = runCli(['eval', '--model', join(tmp, 'no-such-model'), '--sts', pairsFile, '--columns', 'a,b,sim', '--out', join(tmp, 'x'), '--backend', 'cpu']);
  assert.ok(isOneLineUserError(noModel), noModel.stderr);
  assert.match(noModel.stderr, /no-such-model/);
  const noFile = runCli(['eval', '--model', 'builtin:tiny', '--sts', join(tmp, 'missing.csv'), '--backend', 'cpu']);
  assert.ok(isOneLineUserError(noFile), noFile.stderr);
  assert.match(noFile.stderr, /missing\.csv/);
  const badCols = runCli(['eval', '--model', 'builtin:tiny', '--sts', pairsFile, '--columns', 'a,b', '--backend', 'cpu']);
  assert.ok(isOneLineUserError(badCols), badCols.stderr);
  assert.match(badCols.stderr, /--columns/);
  const nothing = runCli(['eval', '--model', 'builtin:tiny', '--backend', 'cpu']);
  assert.ok(isOneLineUserError(nothing), nothing.stderr);
  assert.match(nothing.stderr, /--sts/);
});

for (const backend of TEST_BACKENDS) test(`eval: --pairs (0/1 labels) and --retrieval (BEIR folder) in one run (${backend})`, () => {
  const labelled = join(tmp, 'dups.csv');
  writeFileSync(labelled, 'q1,q2,is_dup\nreset my password,password reset,1\nreset my password,pizza near me,0\ncheap flights,low cost airfare,1\ncheap flights,bake bread,0\n');
  const beir = join(tmp, 'mini-beir');
  mkdirSync(join(beir, 'qrels'), { recursive: true });
  writeFileSync(join(beir, 'corpus.jsonl'), ['{"_id": "d1", "title": "", "text": "password reset steps"}', '{"_id": "d2", "text": "low cost airfare"}', '{"_id": "d3", "text": "bread recipe"}'].join('\n'));
  writeFileSync(join(beir, 'queries.jsonl'), '{"_id": "q1", "text": "reset password"}\n{"_id": "q2", "text": "cheap flights"}\n');
  writeFileSync(join(beir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n');
  const out = join(tmp, `more-${backend}`);
  const r = runCli(['eval', '--model', 'builtin:tiny', '--pairs', labelled, '--columns', 'q1,q2,is_dup', '--retrieval', beir, '--out', out, '--json', '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stdout)['builtin:tiny'] as Record<string, number>;
  assert.ok(m.dups_cosine_ap > 0 && m.dups_cosine_ap <= 1);
  assert.equal(m['mini-beir_cosine_recall@3'], 1, 'both relevant documents are within the 3');
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.deepEqual(report.models[0].results.map((x: { primaryMetric: string }) => x.primaryMetric), ['dups_cosine_ap', 'mini-beir_cosine_ndcg@10']);
  agreeAcrossBackends('eval --pairs --retrieval metrics', backend, m, 1e-4);
});

for (const backend of TEST_BACKENDS) test(`heatmap (${backend}): --text values give PNG, SVG and HTML; duplicates are fine`, () => {
  const out = join(tmp, `hm-${backend}`);
  const r = runCli(['heatmap', '--model', 'builtin:tiny', '--text', 'nurse', '--text', 'nurse', '--text', '看護師', '--out', out, '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['heatmap.png', 'heatmap.svg', 'heatmap.html']) assert.ok(existsSync(join(out, f)), f);
  const svg = readFileSync(join(out, 'heatmap.svg'), 'utf8');
  assert.ok(svg.includes('>nurse<') && svg.includes('>nurse (2)<') && svg.includes('>看護師<'));
});

test('heatmap: no texts, or a model that fails to load -> one-line errors, exit 2', () => {
  const blank = join(tmp, 'blank.txt');
  writeFileSync(blank, '\n  \n');
  const empty = runCli(['heatmap', '--model', 'builtin:tiny', '--texts', blank, '--backend', 'cpu']);
  assert.ok(isOneLineUserError(empty), empty.stderr);
  assert.match(empty.stderr, /no texts/);
  const none = runCli(['heatmap', '--model', 'builtin:tiny', '--backend', 'cpu']);
  assert.ok(isOneLineUserError(none), none.stderr);
  const badModel = runCli(['heatmap', '--model', 'builtin:nope', '--text', 'a', '--backend', 'cpu']);
  assert.ok(isOneLineUserError(badModel), badModel.stderr);
  assert.match(badModel.stderr, /builtin:nope/);
});
