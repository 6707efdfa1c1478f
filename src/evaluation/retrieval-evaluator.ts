/**
 * Retrieval evaluation, as sentence-transformers' InformationRetrievalEvaluator: embed the
 * queries and the corpus, rank the corpus by cosine for each query, and average over queries
 * accuracy@k, precision@k, recall@k, MRR@k, nDCG@k (binary relevance) and MAP@k.
 * Primary: cosine_ndcg@10 (the largest nDCG k when 10 is not among them).
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/evaluation/InformationRetrievalEvaluator.py
 */
import type { Encoder } from '../models/types.js';
import { hitAtK, mapAtK, mrrAtK, ndcgAtK, precisionAtK, recallAtK } from './metrics.js';
import { embedUnique, pairScore } from './pair-scores.js';
import { prefixMetrics, prefixed, type EvaluationResult } from './types.js';

export interface RetrievalData {
  queries: Record<string, string>;
  corpus: Record<string, string>;
  /** query id -> relevant corpus ids */
  relevant: Record<string, readonly string[]>;
}

export interface RetrievalKs {
  accuracy: number[];
  precision: number[];
  recall: number[];
  mrr: number[];
  ndcg: number[];
  map: number[];
}

/** sentence-transformers' defaults. */
export const DEFAULT_KS: RetrievalKs = {
  accuracy: [1, 3, 5, 10],
  precision: [1, 3, 5, 10],
  recall: [1, 3, 5, 10],
  mrr: [10],
  ndcg: [10],
  map: [100],
};

const METRIC_FNS = { accuracy: hitAtK, precision: precisionAtK, recall: recallAtK, mrr: mrrAtK, ndcg: ndcgAtK, map: mapAtK };

/** Mean of each @k metric over the queries with judgements; `ranked` is best-first corpus ids. */
export function retrievalMetrics(
  ranked: Record<string, readonly string[]>,
  relevant: Record<string, readonly string[]>,
  ks: RetrievalKs = DEFAULT_KS,
  fn = 'cosine',
): Record<string, number> {
  const qids = Object.keys(relevant).filter((q) => relevant[q].length > 0 && q in ranked);
  const out: Record<string, number> = {};
  for (const [metric, f] of Object.entries(METRIC_FNS)) {
    for (const k of ks[metric as keyof RetrievalKs]) {
      let sum = 0;
      for (const q of qids) sum += f(ranked[q], new Set(relevant[q]), k);
      out[`${fn}_${metric}@${k}`] = qids.length ? sum / qids.length : NaN;
    }
  }
  return out;
}

export async function evaluateRetrieval(
  encoder: Encoder,
  data: RetrievalData,
  opts: { batchSize?: number; name?: string; ks?: RetrievalKs } = {},
): Promise<EvaluationResult> {
  const ks = opts.ks ?? DEFAULT_KS;
  const name = opts.name ?? '';
  const maxK = Math.max(...Object.values(ks).flat());
  const corpusIds = Object.keys(data.corpus);
  const qids = Object.keys(data.queries).filter((q) => (data.relevant[q]?.length ?? 0) > 0);
  const emb = await embedUnique(encoder, [...qids.map((q) => data.queries[q]), ...corpusIds.map((c) => data.corpus[c])], opts);
  const ranked: Record<string, string[]> = {};
  for (const q of qids) {
    const qe = emb.get(data.queries[q])!;
    const scored = corpusIds.map((c, i) => ({ c, i, s: pairScore('cosine', qe, emb.get(data.corpus[c])!) }));
    // ties: corpus order, so results are deterministic
    scored.sort((x, y) => y.s - x.s || x.i - y.i);
    ranked[q] = scored.slice(0, maxK).map((x) => x.c);
  }
  const metrics = retrievalMetrics(ranked, data.relevant, ks);
  const ndcgK = ks.ndcg.includes(10) ? 10 : Math.max(...ks.ndcg);
  return { name, metrics: prefixMetrics(name, metrics), primaryMetric: prefixed(name, `cosine_ndcg@${ndcgK}`) };
}
