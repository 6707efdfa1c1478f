/**
 * Metrics against reference values from scipy and numpy textbook formulas
 * (benchmarks/peers/metrics_reference.py -> test/fixtures/metrics/reference.json), plus
 * hand-computed cases for the threshold and ranked-list metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';
import {
  averagePrecision,
  averageRanks,
  bestAccuracyThreshold,
  bestF1Threshold,
  hitAtK,
  mapAtK,
  mrrAtK,
  ndcg,
  ndcgAtK,
  pearson,
  precisionAtK,
  recallAtK,
  reciprocalRank,
  spearman,
} from '../src/evaluation/metrics.js';

interface Ref {
  cases: {
    correlation: Array<{ name: string; x: number[]; y: number[]; pearson: number; spearman: number; ranks_x: number[] }>;
    average_precision: Array<{ name: string; labels: number[]; scores: number[]; ap: number }>;
    ndcg: Array<{ name: string; relevance: number[]; scores: number[]; k: number | null; ndcg: number }>;
    reciprocal_rank: Array<{ name: string; relevant: number[]; scores: number[]; k: number | null; rr: number }>;
  };
}
const ref = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'metrics', 'reference.json'), 'utf8')) as Ref;
const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9, `${what}: ${a} vs ${b}`);

test('pearson and spearman agree with scipy to 1e-9 (ties get average ranks)', () => {
  assert.ok(ref.cases.correlation.length >= 4);
  for (const c of ref.cases.correlation) {
    close(pearson(c.x, c.y), c.pearson, `pearson ${c.name}`);
    close(spearman(c.x, c.y), c.spearman, `spearman ${c.name}`);
    assert.deepEqual(Array.from(averageRanks(c.x)), c.ranks_x, `ranks ${c.name}`);
  }
});

test('average precision agrees with the sklearn definition to 1e-9', () => {
  for (const c of ref.cases.average_precision) close(averagePrecision(c.labels, c.scores), c.ap, c.name);
});

test('nDCG agrees with the sklearn ndcg_score definition (tie-averaged, cut at k) to 1e-9', () => {
  for (const c of ref.cases.ndcg) close(ndcg(c.relevance, c.scores, c.k ?? undefined), c.ndcg, c.name);
});

test('reciprocal rank agrees with the reference', () => {
  for (const c of ref.cases.reciprocal_rank) close(reciprocalRank(c.relevant, c.scores, c.k ?? undefined), c.rr, c.name);
});

test('correlations of constant input are NaN, mismatched lengths throw', () => {
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.ok(Number.isNaN(spearman([1, 2, 3], [4, 4, 4])));
  assert.throws(() => pearson([1, 2], [1, 2, 3]));
});

test('best accuracy / F1 thresholds (hand-computed)', () => {
  // sorted by score: 0.9(1) 0.8(1) 0.6(0) 0.4(1) 0.2(0)
  const labels = [1, 0, 1, 1, 0];
  const scores = [0.9, 0.6, 0.4, 0.8, 0.2];
  const acc = bestAccuracyThreshold(labels, scores);
  // cut after 0.8: 2 TP + 2 TN = 4/5 (first reached there), threshold (0.8+0.6)/2
  close(acc.accuracy, 0.8, 'accuracy');
  close(acc.threshold, 0.7, 'acc threshold');
  const f1 = bestF1Threshold(labels, scores);
  // cut after 0.4: P=3/4, R=1, F1=6/7 beats 0.8 (P=1, R=2/3)
  close(f1.f1, 6 / 7, 'f1');
  close(f1.precision, 0.75, 'precision');
  close(f1.recall, 1, 'recall');
  close(f1.threshold, 0.3, 'f1 threshold');
});

test('ranked-list retrieval metrics (hand-computed)', () => {
  const ranked = ['d3', 'd1', 'd7', 'd2', 'd9'];
  const rel = new Set(['d1', 'd2', 'd5']);
  assert.equal(hitAtK(ranked, rel, 1), 0);
  assert.equal(hitAtK(ranked, rel, 2), 1);
  close(precisionAtK(ranked, rel, 5), 2 / 5, 'p@5');
  close(recallAtK(ranked, rel, 5), 2 / 3, 'r@5');
  close(mrrAtK(ranked, rel, 5), 1 / 2, 'mrr@5');
  assert.equal(mrrAtK(ranked, rel, 1), 0);
  // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4)
  close(ndcgAtK(ranked, rel, 5), (1 / Math.log2(3) + 1 / Math.log2(5)) / (1 + 1 / Math.log2(3) + 0.5), 'ndcg@5');
  // AP@5 = (1/2 + 2/4) / min(5, 3)
  close(mapAtK(ranked, rel, 5), (0.5 + 0.5) / 3, 'map@5');
  // binary nDCG@k equals the graded ndcg with 0/1 relevance and rank-derived scores
  const ids = ['d1', 'd2', 'd3', 'd5', 'd7', 'd9'];
  const relevance = ids.map((d) => (rel.has(d) ? 1 : 0));
  const scores = ids.map((d) => (ranked.includes(d) ? 10 - ranked.indexOf(d) : 0));
  close(ndcgAtK(ranked, rel, 3), ndcg(relevance, scores, 3), 'binary vs graded');
});
