/**
 * Evaluation: pure metrics (./metrics.ts), thin evaluators that return name-prefixed metric
 * maps with one primary metric, and reports.
 *
 * Evaluators (each encodes every distinct text once, float32, and follows the
 * sentence-transformers evaluator of the same role so numbers are comparable):
 *   evaluateSts(encoder, pairs, { batchSize, name })       -> StsEvaluation
 *     pearson_/spearman_ x cosine, euclidean, manhattan, dot; primary spearman_cosine.
 *     Also returns `gold` and `cosine` per pair for a scatter plot.
 *   evaluateBinary(encoder, labelledPairs, { name })      -> accuracy / f1 / precision /
 *     recall / ap per similarity, with thresholds; primary cosine_ap.
 *   evaluateRetrieval(encoder, { queries, corpus, relevant }, { ks }) -> accuracy@k,
 *     precision@k, recall@k, mrr@k, ndcg@k, map@k; primary cosine_ndcg@10.
 *   evaluateTriplets(encoder, [{ anchor, positive, negative }], { name }) -> accuracy per
 *     similarity (sim(a, p) > sim(a, n)) and max_accuracy; primary cosine_accuracy.
 *   evaluateParaphraseMining(encoder, { sentences, duplicates }, { topK, maxPairs }) -> mined
 *     pairs by cosine against gold duplicates: average_precision, f1, precision, recall,
 *     threshold; primary average_precision.
 * With `name: 'stsb-dev'` every key is prefixed: `stsb-dev_spearman_cosine`.
 *
 * Reports: writeReport(dir, data) writes report.json, report.md and report.html, where
 *   data = {
 *     title: string,
 *     models: [{ model: 'base' | path, results: EvaluationResult[] }],   // side by side
 *     history?: { loss: [{ step, loss, lr?, grad_norm? }], evals: [{ step, metrics }] }, // training curves (step 0 = baseline)
 *     scatter?: { gold: number[], predicted: number[], label? } | [...], // predicted vs gold
 *     meta?: { dataset: 'stsb-test', pairs: 1379, ... },
 *   }
 * Training (after each evaluation, or at the end):
 *   const r = await evaluateSts(encoder, devPairs, { batchSize: 64, name: 'stsb-dev' });
 *   await writeReport(runDir, { title: 'run', models: [{ model: 'tuned', results: [r] }],
 *     history, scatter: { gold: r.gold, predicted: r.cosine } });
 */
export * from './metrics.js';
export { prefixMetrics, prefixed, type EvaluationResult } from './types.js';
export { SIMILARITY_FNS, pairScore, pairScores, embedUnique, type SimilarityFnName } from './pair-scores.js';
export { evaluateSts, stsMetrics, perDimMetrics, type StsEvaluation, type StsOptions } from './sts-evaluator.js';
export { evaluateBinary, binaryMetrics, type LabelledPair } from './binary-evaluator.js';
export { evaluateRetrieval, retrievalMetrics, DEFAULT_KS, type RetrievalData, type RetrievalKs } from './retrieval-evaluator.js';
export { evaluateTriplets, tripletMetrics, tripletAccuracy, type Triplet } from './triplet-evaluator.js';
export { evaluateParaphraseMining, minePairs, paraphraseMiningMetrics, MINING_DEFAULTS, type ParaphraseData, type MinedParaphrase, type MiningOptions } from './paraphrase-mining-evaluator.js';
export { readBeirFolder } from './retrieval-data.js';
export { fileEvaluator, runFileEvaluators, retrievalFromPairs, type FileEvaluator, type FileEvaluatorSpec } from './file-evaluators.js';
export { EVALUATOR_METRICS, EVALUATOR_PRIMARY, type EvaluatorType } from './metric-names.js';
export { writeReport, reportMarkdown, reportHtml, type ReportData, type ModelResults, type ScatterData, type TrainingHistory, type ReportPaths } from './report.js';
