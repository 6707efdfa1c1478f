/**
 * Paraphrase mining, as sentence-transformers' ParaphraseMiningEvaluator: embed every sentence
 * of a collection, mine the most similar pairs by cosine (each sentence's top_k neighbours,
 * each unordered pair once, best first, at most max_pairs), and score that ranked list against
 * the gold duplicate pairs:
 *
 *   average_precision = (1 / |gold|) * sum over mined pairs at rank r that are gold of
 *                       precision@r        (a gold pair never mined adds 0)
 *   f1, precision, recall at the best cut of the ranked list; threshold = the midpoint between
 *   the score at that cut and the next one (the last pair's own score at the end).
 *
 * Primary: average_precision. Ties in score are ranked by sentence index (i, then j), so a run
 * is reproducible; the reference leaves their order to its heap. The reference applies
 * max_pairs before dropping the (j, i) copy of each pair; here it counts distinct pairs.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/evaluation/ParaphraseMiningEvaluator.py
 * https://sbert.net/examples/applications/paraphrase-mining/README.html
 *
 * Example:
 *   const r = await evaluateParaphraseMining(encoder, { sentences, duplicates: [['How old are you?', 'What is your age?']] }, { name: 'quora-dev' });
 *   r.metrics['quora-dev_average_precision']
 */
import type { Encoder } from '../models/types.js';
import { dotF32, embedUnique, normalizeF32 } from './pair-scores.js';
import { prefixMetrics, prefixed, type EvaluationResult } from './types.js';

export interface ParaphraseData {
  /** The collection to mine (duplicates among them are one sentence). */
  sentences: readonly string[];
  /** Gold duplicate pairs; each sentence must be in `sentences`. Order within a pair does not matter. */
  duplicates: ReadonlyArray<readonly [string, string]>;
}

export interface MinedParaphrase {
  score: number;
  /** Indices into the sentence list, i < j. */
  i: number;
  j: number;
}

export interface MiningOptions {
  /** Neighbours kept per sentence (sentence-transformers default 100). */
  topK?: number;
  /** Most pairs kept (default 500000). */
  maxPairs?: number;
}

/** sentence-transformers' paraphrase_mining defaults. */
export const MINING_DEFAULTS = { topK: 100, maxPairs: 500_000 } as const;

/**
 * The most similar pairs of rows by cosine (float32, as torch on normalised rows): every row's
 * topK best other rows, each unordered pair once, best first.
 */
export function minePairs(embeddings: readonly Float32Array[], opts: MiningOptions = {}): MinedParaphrase[] {
  const topK = opts.topK ?? MINING_DEFAULTS.topK;
  const maxPairs = opts.maxPairs ?? MINING_DEFAULTS.maxPairs;
  const unit = embeddings.map(normalizeF32);
  const n = unit.length;
  const pairs = new Map<number, MinedParaphrase>(); // key i * n + j, i < j
  for (let i = 0; i < n; i++) {
    for (const { j, s } of rowTopK(unit, i, topK)) {
      const [a, b] = i < j ? [i, j] : [j, i];
      if (!pairs.has(a * n + b)) pairs.set(a * n + b, { score: s, i: a, j: b });
    }
  }
  return [...pairs.values()].sort((x, y) => y.score - x.score || x.i - y.i || x.j - y.j).slice(0, maxPairs);
}

interface Hit {
  j: number;
  s: number;
}

/** a ranks below b: lower score, or the same score and a later row. */
const worse = (a: Hit, b: Hit) => a.s < b.s || (a.s === b.s && a.j > b.j);

/**
 * The k rows other than i most similar to row i, best first (score desc, row asc): a min-heap
 * of the best k so far (as src/search/exact.ts), not a sort of the whole row.
 */
function rowTopK(unit: readonly Float32Array[], i: number, k: number): Hit[] {
  const heap: Hit[] = [];
  for (let j = 0; j < unit.length && k > 0; j++) {
    if (j === i) continue;
    const hit = { j, s: dotF32(unit[i], unit[j]) };
    if (heap.length < k) {
      heap.push(hit);
      for (let c = heap.length - 1; c > 0; ) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c], heap[p])) break;
        [heap[c], heap[p]] = [heap[p], heap[c]];
        c = p;
      }
    } else if (worse(heap[0], hit)) {
      heap[0] = hit;
      for (let c = 0; ; ) {
        const l = 2 * c + 1;
        let m = c;
        if (l < heap.length && worse(heap[l], heap[m])) m = l;
        if (l + 1 < heap.length && worse(heap[l + 1], heap[m])) m = l + 1;
        if (m === c) break;
        [heap[c], heap[m]] = [heap[m], heap[c]];
        c = m;
      }
    }
  }
  return heap.sort((x, y) => y.s - x.s || x.j - y.j);
}

/**
 * Ranked pairs against the gold pairs (`isGold(i, j)`, `goldCount` of them): average precision
 * and the best-F1 cut, as the reference evaluator computes them.
 */
export function paraphraseMiningMetrics(ranked: readonly MinedParaphrase[], isGold: (i: number, j: number) => boolean, goldCount: number): Record<string, number> {
  let extracted = 0;
  let correct = 0;
  let apSum = 0;
  const best = { f1: 0, precision: 0, recall: 0, threshold: 0 };
  for (const [k, p] of ranked.entries()) {
    extracted++;
    if (!isGold(p.i, p.j)) continue;
    correct++;
    const precision = correct / extracted;
    const recall = goldCount ? correct / goldCount : 0;
    const f1 = (2 * precision * recall) / (precision + recall);
    apSum += precision;
    if (f1 > best.f1) Object.assign(best, { f1, precision, recall, threshold: (p.score + ranked[Math.min(k + 1, ranked.length - 1)].score) / 2 });
  }
  return { average_precision: goldCount ? apSum / goldCount : NaN, f1: best.f1, precision: best.precision, recall: best.recall, threshold: best.threshold };
}

export async function evaluateParaphraseMining(
  encoder: Encoder,
  data: ParaphraseData,
  opts: MiningOptions & { batchSize?: number; name?: string; progress?: boolean } = {},
): Promise<EvaluationResult> {
  const name = opts.name ?? '';
  const sentences = [...new Set(data.sentences)];
  const index = new Map(sentences.map((s, i) => [s, i]));
  const gold = new Set<number>();
  for (const [a, b] of data.duplicates) {
    const i = index.get(a);
    const j = index.get(b);
    if (i === undefined || j === undefined) throw new Error(`evaluateParaphraseMining: duplicate pair names a sentence not in the collection: ${JSON.stringify(i === undefined ? a : b)}`);
    if (i !== j) gold.add(Math.min(i, j) * sentences.length + Math.max(i, j));
  }
  if (gold.size === 0) throw new Error('evaluateParaphraseMining: no gold duplicate pairs');
  const emb = await embedUnique(encoder, sentences, opts);
  const ranked = minePairs(sentences.map((s) => emb.get(s)!), opts);
  const metrics = paraphraseMiningMetrics(ranked, (i, j) => gold.has(i * sentences.length + j), gold.size);
  return { name, metrics: prefixMetrics(name, metrics), primaryMetric: prefixed(name, 'average_precision') };
}
