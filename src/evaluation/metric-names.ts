/**
 * The metric keys each evaluator reports (before its name prefix) and its primary one, known
 * without running it: recipe validation checks `evaluation.monitor` against them before a run
 * starts. test/evaluators-triplet-paraphrase.test.ts checks them against what the evaluators return.
 */
import { SIMILARITY_FNS } from './pair-scores.js';
import { DEFAULT_KS } from './retrieval-evaluator.js';

export type EvaluatorType = 'sts' | 'binary' | 'retrieval' | 'triplet' | 'paraphrase_mining';

const perFn = (suffixes: string[]) => SIMILARITY_FNS.flatMap((fn) => suffixes.map((s) => `${fn}_${s}`));

export const EVALUATOR_METRICS: Record<EvaluatorType, readonly string[]> = {
  sts: SIMILARITY_FNS.flatMap((fn) => [`pearson_${fn}`, `spearman_${fn}`]),
  binary: perFn(['accuracy', 'accuracy_threshold', 'f1', 'precision', 'recall', 'f1_threshold', 'ap']),
  retrieval: Object.entries(DEFAULT_KS).flatMap(([metric, ks]) => (ks as number[]).map((k) => `cosine_${metric}@${k}`)),
  triplet: [...perFn(['accuracy']), 'max_accuracy'],
  paraphrase_mining: ['average_precision', 'f1', 'precision', 'recall', 'threshold'],
};

export const EVALUATOR_PRIMARY: Record<EvaluatorType, string> = {
  sts: 'spearman_cosine',
  binary: 'cosine_ap',
  retrieval: 'cosine_ndcg@10',
  triplet: 'cosine_accuracy',
  paraphrase_mining: 'average_precision',
};
