/**
 * Evaluation metrics as pure functions over plain numbers (float64), so they can be checked
 * against scipy / scikit-learn on fixed vectors (test/fixtures/metrics/reference.json, made by
 * benchmarks/peers/metrics_reference.py). Evaluators (./sts-evaluator.ts, ...) only orchestrate.
 */

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

/**
 * Pearson's correlation coefficient, computed as scipy.stats.pearsonr does: centre both
 * vectors (two-pass mean), scale each by its norm, take the dot product, clip to [-1, 1].
 * NaN when either input is constant or shorter than 2 (scipy also returns NaN there).
 * https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.pearsonr.html
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`pearson: lengths differ (${x.length} vs ${y.length})`);
  const n = x.length;
  if (n < 2) return NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  const nx = Math.sqrt(sxx);
  const ny = Math.sqrt(syy);
  if (nx === 0 || ny === 0) return NaN;
  let r = 0;
  for (let i = 0; i < n; i++) r += ((x[i] - mx) / nx) * ((y[i] - my) / ny);
  return Math.max(-1, Math.min(1, r));
}

/**
 * 1-based ranks with ties given the average of the ranks they span (scipy.stats.rankdata
 * method='average'), which is what Spearman's rho needs.
 */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b]);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]] === x[order[i]]) j++;
    const avg = (i + j) / 2 + 1; // positions i..j hold ranks i+1..j+1
    for (let k = i; k <= j; k++) ranks[order[k]] = avg;
    i = j + 1;
  }
  return ranks;
}

/** Spearman's rho: Pearson's r of the average ranks (scipy.stats.spearmanr for 1-D input). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`spearman: lengths differ (${x.length} vs ${y.length})`);
  return pearson(averageRanks(x), averageRanks(y));
}

/** Indices sorted by descending score; equal scores keep their input order (stable). */
function byScoreDesc(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * Average precision as scikit-learn's average_precision_score defines it:
 * AP = sum_n (R_n - R_{n-1}) * P_n over the distinct score thresholds, highest first, where
 * tied scores enter together (no interpolation). Labels are 0/1; NaN without positives.
 * https://scikit-learn.org/stable/modules/generated/sklearn.metrics.average_precision_score.html
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  if (labels.length !== scores.length) throw new Error('averagePrecision: lengths differ');
  let positives = 0;
  for (let i = 0; i < labels.length; i++) positives += labels[i] ? 1 : 0;
  if (positives === 0) return NaN;
  const order = byScoreDesc(scores);
  let tp = 0;
  let seen = 0;
  let prevRecall = 0;
  let ap = 0;
  let i = 0;
  while (i < order.length) {
    // take every item tied at this threshold
    const s = scores[order[i]];
    while (i < order.length && scores[order[i]] === s) {
      tp += labels[order[i]] ? 1 : 0;
      seen++;
      i++;
    }
    const recall = tp / positives;
    ap += (recall - prevRecall) * (tp / seen);
    prevRecall = recall;
  }
  return ap;
}

/**
 * Discounted cumulative gain with scikit-learn's tie handling (ndcg_score, ignore_ties=False):
 * items with equal scores share the mean of their gains over the discounts of the positions
 * they occupy. Gain is the raw relevance (linear), discount 1/log2(rank + 1), cut at k.
 */
export function dcg(relevance: ArrayLike<number>, scores: ArrayLike<number>, k = relevance.length): number {
  const order = byScoreDesc(scores);
  const cut = Math.min(k, order.length);
  let total = 0;
  let i = 0;
  while (i < cut) {
    let j = i;
    let gain = relevance[order[i]];
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) gain += relevance[order[++j]];
    const meanGain = gain / (j - i + 1);
    for (let p = i; p <= j && p < cut; p++) total += meanGain / Math.log2(p + 2);
    i = j + 1;
  }
  return total;
}

/**
 * Normalised DCG of one ranking (scikit-learn's ndcg_score for a single sample): DCG of the
 * scores over DCG of the ideal order (relevance sorted descending). 0 when nothing is
 * relevant, as in scikit-learn.
 * https://scikit-learn.org/stable/modules/generated/sklearn.metrics.ndcg_score.html
 */
export function ndcg(relevance: ArrayLike<number>, scores: ArrayLike<number>, k = relevance.length): number {
  const ideal = dcg(relevance, relevance, k);
  return ideal === 0 ? 0 : dcg(relevance, scores, k) / ideal;
}

/** Reciprocal rank of the first relevant item among the top k (0 if none), ranks 1-based. */
export function reciprocalRank(relevant: ArrayLike<number>, scores: ArrayLike<number>, k = relevant.length): number {
  const order = byScoreDesc(scores);
  for (let r = 0; r < Math.min(k, order.length); r++) if (relevant[order[r]]) return 1 / (r + 1);
  return 0;
}

// ---- ranked-list metrics for retrieval (as sentence-transformers' InformationRetrievalEvaluator) ----
// `ranked` is the retrieved ids, best first; `relevant` the judged-relevant ids.
// https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/evaluation/InformationRetrievalEvaluator.py

/** 1 if any relevant id is in the top k. */
export function hitAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  return ranked.slice(0, k).some((id) => relevant.has(id)) ? 1 : 0;
}

/** Relevant ids in the top k over k. */
export function precisionAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  return ranked.slice(0, k).filter((id) => relevant.has(id)).length / k;
}

/** Relevant ids in the top k over all relevant ids. */
export function recallAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  if (relevant.size === 0) return 0;
  return ranked.slice(0, k).filter((id) => relevant.has(id)).length / relevant.size;
}

/** 1 / rank of the first relevant id within the top k, else 0. */
export function mrrAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  const top = ranked.slice(0, k);
  const r = top.findIndex((id) => relevant.has(id));
  return r < 0 ? 0 : 1 / (r + 1);
}

/** Binary-relevance nDCG@k: sum 1/log2(rank+1) over hits, over the ideal (all relevant first). */
export function ndcgAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  let dcgSum = 0;
  ranked.slice(0, k).forEach((id, i) => {
    if (relevant.has(id)) dcgSum += 1 / Math.log2(i + 2);
  });
  let ideal = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) ideal += 1 / Math.log2(i + 2);
  return ideal === 0 ? 0 : dcgSum / ideal;
}

/** Average precision at k: mean of precision@rank at each hit, over min(k, #relevant). */
export function mapAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  let hits = 0;
  let sum = 0;
  ranked.slice(0, k).forEach((id, i) => {
    if (relevant.has(id)) {
      hits++;
      sum += hits / (i + 1);
    }
  });
  const denom = Math.min(k, relevant.size);
  return denom === 0 ? 0 : sum / denom;
}

// ---- best-threshold classification (as sentence-transformers' BinaryClassificationEvaluator) ----

export interface ThresholdAccuracy {
  accuracy: number;
  threshold: number;
}

export interface ThresholdF1 {
  f1: number;
  precision: number;
  recall: number;
  threshold: number;
}

/** Pairs sorted by score descending (higher score = more likely positive). */
function sortedPairs(labels: ArrayLike<number>, scores: ArrayLike<number>): Array<[number, number]> {
  if (labels.length !== scores.length) throw new Error('threshold metrics: lengths differ');
  return byScoreDesc(scores).map((i) => [scores[i], labels[i] ? 1 : 0]);
}

/**
 * The accuracy of the best rule "positive iff score > t", with t the midpoint between two
 * neighbouring scores, scanning from the top (BinaryClassificationEvaluator
 * .find_best_acc_and_threshold).
 */
export function bestAccuracyThreshold(labels: ArrayLike<number>, scores: ArrayLike<number>): ThresholdAccuracy {
  const rows = sortedPairs(labels, scores);
  let remainingNegatives = rows.filter((r) => r[1] === 0).length;
  let positivesSoFar = 0;
  let best: ThresholdAccuracy = { accuracy: 0, threshold: -1 };
  for (let i = 0; i < rows.length - 1; i++) {
    if (rows[i][1] === 1) positivesSoFar++;
    else remainingNegatives--;
    const acc = (positivesSoFar + remainingNegatives) / rows.length;
    if (acc > best.accuracy) best = { accuracy: acc, threshold: (rows[i][0] + rows[i + 1][0]) / 2 };
  }
  return best;
}

/** The best F1 over the same midpoint thresholds (find_best_f1_and_threshold). */
export function bestF1Threshold(labels: ArrayLike<number>, scores: ArrayLike<number>): ThresholdF1 {
  const rows = sortedPairs(labels, scores);
  const totalPositives = rows.filter((r) => r[1] === 1).length;
  let best: ThresholdF1 = { f1: 0, precision: 0, recall: 0, threshold: 0 };
  let extracted = 0;
  let correct = 0;
  for (let i = 0; i < rows.length - 1; i++) {
    extracted++;
    if (rows[i][1] === 1) correct++;
    if (correct > 0) {
      const precision = correct / extracted;
      const recall = correct / totalPositives;
      const f1 = (2 * precision * recall) / (precision + recall);
      if (f1 > best.f1) best = { f1, precision, recall, threshold: (rows[i][0] + rows[i + 1][0]) / 2 };
    }
  }
  return best;
}
