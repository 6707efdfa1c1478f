/**
 * Hard-negative mining: add to each (anchor, positive) pair texts that the current model finds
 * close to the anchor but that are not its positives, so a MultipleNegativesRankingLoss run
 * trains on (anchor, positive, negative) triplets.
 *
 * The options follow sentence-transformers' `util.mine_hard_negatives`
 * (https://sbert.net/docs/package_reference/util.html#sentence_transformers.util.mine_hard_negatives):
 *
 * | option | meaning |
 * | --- | --- |
 * | `numNegatives` | negatives per anchor (3) |
 * | `rangeMin`, `rangeMax` | candidates are the anchor's nearest corpus texts of rank rangeMin .. rangeMax - 1 (0 = the closest); skipping the closest few avoids unlabelled positives |
 * | `margin` | keep a candidate only if score <= positive score - margin (absolute margin; 0 = never closer than the positive) |
 * | `relativeMargin` | keep only if score <= positive score - abs(positive score) * relativeMargin (NV-Retriever's TopK-PercPos, 0.05) |
 * | `maxScore`, `minScore` | keep only candidates whose score is at most / at least this |
 * | `sampling` | `top`: the best-scoring kept candidates; `random`: a seeded uniform draw among them |
 *
 * Scores are cosine similarities of the model's embeddings. With several positives for one
 * anchor the margins use the lowest positive score (as sentence-transformers), and every pair
 * of that anchor gets the same negatives.
 *
 * The corpus is every distinct positive, plus any `corpus` texts given. Never a negative of an
 * anchor: its own positives, the anchor itself, the anchors that have it as a positive, and any
 * text equal to one of those up to case, Unicode form and spacing ("Nurse" vs "nurse ").
 * Texts equal in that sense are one corpus entry (the first spelling), so a row never holds two
 * spellings of one negative.
 *
 * One difference from sentence-transformers: ranks count in the anchor's similarity list with
 * only the excluded texts above removed, before the score filters; sentence-transformers drops
 * the first range_min candidates after filtering. Here `rangeMin: 10` always means "never one
 * of the 10 closest texts", whatever the filters keep.
 *
 * Search is exact (brute-force cosine, ../search/exact.ts) or through an in-memory HNSW graph
 * (../search/hnsw-index.ts), the analogue of sentence-transformers' `use_faiss`; `auto` takes
 * exact search while anchors x corpus stays under EXACT_MAX_SCORES.
 */
import seedrandom from 'seedrandom';
import { DataError, UserError } from '../errors.js';
import { exactSearch, rowNorms } from '../search/exact.js';
import { DEFAULT_PARAMS, HnswIndex } from '../search/hnsw-index.js';
import type { Encoder } from '../models/types.js';
import { encoderRolePrompt, type MaybePrompted } from '../models/prompts.js';
import { progressBar, type Progress } from '../util/progress.js';
import { cosine } from '../similarity/index.js';

export interface AnchorPositive {
  anchor: string;
  positive: string;
}

export type SamplingStrategy = 'top' | 'random';
export type MineSearch = 'auto' | 'exact' | 'hnsw';

export interface MineOptions {
  numNegatives?: number;
  rangeMin?: number;
  /** Default: rangeMin + numNegatives, or rangeMin + 10 x numNegatives when a score filter is set (as sentence-transformers). */
  rangeMax?: number | null;
  margin?: number | null;
  relativeMargin?: number | null;
  maxScore?: number | null;
  minScore?: number | null;
  sampling?: SamplingStrategy;
  seed?: number;
  /** Extra candidate texts besides the positives. */
  corpus?: readonly string[];
  search?: MineSearch;
  /** HNSW search breadth (default max(100, 2k)). */
  ef?: number;
  progress?: boolean;
  /** Told the sizes and the search chosen before the (long) embedding starts. */
  onPlan?: (info: { pairs: number; anchors: number; corpus: number; search: 'exact' | 'hnsw' }) => void;
}

export interface MinedNegative {
  text: string;
  /** Cosine similarity to the anchor. */
  score: number;
  /** 0-based position in the anchor's similarity list (excluded texts removed). */
  rank: number;
}

export interface MinedPair extends AnchorPositive {
  positiveScore: number;
  /** Best first; fewer than numNegatives when not enough candidates passed the filters. */
  negatives: MinedNegative[];
}

export interface MineStats {
  pairs: number;
  duplicatePairs: number;
  anchors: number;
  corpus: number;
  search: 'exact' | 'hnsw';
  rangeMin: number;
  rangeMax: number;
  /** Candidates in the rank window removed by each filter (each counted by the first that removes it). */
  skipped: { margin: number; relativeMargin: number; maxScore: number; minScore: number };
  /** Anchors that got fewer than numNegatives negatives. */
  shortAnchors: number;
}

export interface MineResult {
  pairs: MinedPair[];
  stats: MineStats;
}

/** Embed texts (any norm; scores are cosines). `role` lets a model embed queries and documents differently. */
export type EmbedFn = (texts: string[], role: 'query' | 'document') => Promise<ArrayLike<number>[]>;

/** `auto` searches exactly while anchors x corpus scores stay under this (about 15 s of brute force on 2 cores at dim 128). */
export const EXACT_MAX_SCORES = 25_000_000;

/** `auto`: exact search while anchors x corpus stays under EXACT_MAX_SCORES, else HNSW. */
export function chooseSearch(anchors: number, corpus: number, requested: MineSearch = 'auto'): 'exact' | 'hnsw' {
  if (requested === 'exact' || requested === 'hnsw') return requested;
  return anchors * corpus <= EXACT_MAX_SCORES ? 'exact' : 'hnsw';
}

/** The key under which two texts count as the same ("Nurse" = "nurse " = "ｎｕｒｓｅ"). */
export function textKey(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * Options resolved with their defaults and checked; a bad value is a one-line UserError that
 * names the option as `name` spells it (the CLI passes its flag names).
 */
export function resolveMineOptions(opts: MineOptions, name: (option: string) => string = (o) => o): Required<Pick<MineOptions, 'numNegatives' | 'rangeMin' | 'sampling' | 'seed'>> & { rangeMax: number } {
  const numNegatives = opts.numNegatives ?? 3;
  const rangeMin = opts.rangeMin ?? 0;
  const whole = (option: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new UserError(`${name(option)}: must be a whole number >= ${min}, got ${v}`);
  };
  whole('num_negatives', numNegatives, 1);
  whole('range_min', rangeMin, 0);
  const filtered = [opts.margin, opts.relativeMargin, opts.maxScore, opts.minScore].some((v) => v !== undefined && v !== null);
  const rangeMax = opts.rangeMax ?? rangeMin + (filtered ? 10 : 1) * numNegatives;
  whole('range_max', rangeMax, 1);
  if (rangeMax - rangeMin < numNegatives) {
    throw new UserError(`${name('range_max')} ${rangeMax} - ${name('range_min')} ${rangeMin} leaves ${Math.max(rangeMax - rangeMin, 0)} candidate ranks, fewer than ${name('num_negatives')} ${numNegatives}`);
  }
  for (const [option, v] of [['margin', opts.margin], ['relative_margin', opts.relativeMargin], ['max_score', opts.maxScore], ['min_score', opts.minScore]] as const) {
    if (v !== undefined && v !== null && !Number.isFinite(v)) throw new UserError(`${name(option)}: must be a number, got ${v}`);
  }
  if (opts.relativeMargin != null && opts.relativeMargin < 0) throw new UserError(`${name('relative_margin')}: must be >= 0, got ${opts.relativeMargin}`);
  if (opts.maxScore != null && opts.minScore != null && opts.minScore > opts.maxScore) {
    throw new UserError(`${name('min_score')} ${opts.minScore} is above ${name('max_score')} ${opts.maxScore}: no candidate could pass`);
  }
  const sampling = opts.sampling ?? 'top';
  if (sampling !== 'top' && sampling !== 'random') throw new UserError(`${name('sampling')}: must be top or random, got ${String(sampling)}`);
  if (opts.ef !== undefined) whole('ef', opts.ef, 1);
  return { numNegatives, rangeMin, rangeMax, sampling, seed: opts.seed ?? 42 };
}

/** Who is who: distinct pairs, distinct anchors, the corpus, and what each anchor must never get. */
interface Plan {
  pairs: AnchorPositive[];
  duplicatePairs: number;
  /** First spelling of each distinct anchor key. */
  anchors: string[];
  anchorOf: number[];
  /** Corpus entries (first spelling of each key) and their keys. */
  corpus: string[];
  corpusId: Map<string, number>;
  /** Per anchor: corpus ids that are never its negatives. */
  excluded: Set<number>[];
  /** Per anchor: indices into `pairs`. */
  pairsOf: number[][];
}

function plan(input: readonly AnchorPositive[], extra: readonly string[]): Plan {
  const seenPair = new Set<string>();
  const pairs: AnchorPositive[] = [];
  for (const p of input) {
    const k = `${textKey(p.anchor)}\u0000${textKey(p.positive)}`;
    if (seenPair.has(k)) continue;
    seenPair.add(k);
    pairs.push(p);
  }
  const anchorIndex = new Map<string, number>();
  const anchors: string[] = [];
  const anchorOf = pairs.map((p) => {
    const k = textKey(p.anchor);
    let i = anchorIndex.get(k);
    if (i === undefined) {
      i = anchors.length;
      anchors.push(p.anchor);
      anchorIndex.set(k, i);
    }
    return i;
  });
  const corpusId = new Map<string, number>();
  const corpus: string[] = [];
  for (const t of [...pairs.map((p) => p.positive), ...extra]) {
    const k = textKey(t);
    if (!k || corpusId.has(k)) continue;
    corpusId.set(k, corpus.length);
    corpus.push(t);
  }
  // Keys each anchor must not get: itself, its positives, and anchors that list it as a positive.
  const banned: Set<string>[] = anchors.map((a) => new Set([textKey(a)]));
  const pairsOf: number[][] = anchors.map(() => []);
  pairs.forEach((p, i) => {
    const a = anchorOf[i];
    banned[a].add(textKey(p.positive));
    pairsOf[a].push(i);
    const reverse = anchorIndex.get(textKey(p.positive));
    if (reverse !== undefined) banned[reverse].add(textKey(p.anchor));
  });
  const excluded = banned.map((keys) => {
    const ids = new Set<number>();
    for (const k of keys) {
      const id = corpusId.get(k);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  });
  return { pairs, duplicatePairs: input.length - pairs.length, anchors, anchorOf, corpus, corpusId, excluded, pairsOf };
}

/** The k nearest corpus entries of a query that are not excluded, best first, as (corpus id, score). */
type Searcher = (query: ArrayLike<number>, k: number, excluded: Set<number>) => { index: number; score: number }[];

function exactSearcher(corpus: ArrayLike<number>[]): Searcher {
  const norms = rowNorms(corpus);
  return (q, k, excluded) => exactSearch(corpus, q, k, { norms, skip: (i) => excluded.has(i) });
}

/** An in-memory HNSW graph over the corpus; labels are corpus ids (added in order). */
function hnswSearcher(corpus: ArrayLike<number>[], ef: number | undefined, progress: boolean): Searcher {
  const dim = corpus[0].length;
  const index = HnswIndex.create(dim, { path: '(mining)', weightsHash: '' }, {}, corpus.length);
  const bar: Progress = progress ? progressBar('hnsw graph', corpus.length, 'texts') : { update() {}, stop() {} };
  const CHUNK = 1024;
  try {
    for (let s = 0; s < corpus.length; s += CHUNK) {
      const chunk = corpus.slice(s, s + CHUNK);
      index.add(chunk, chunk.map((_, j) => ({ id: String(s + j), text: '' })));
      bar.update(s + chunk.length);
    }
  } finally {
    bar.stop();
  }
  return (q, k, excluded) => {
    // Ask for as many more as could be excluded, then drop those.
    const want = k + excluded.size;
    const hits = index.search(q, want, Math.max(ef ?? DEFAULT_PARAMS.ef, 2 * want));
    return hits.filter((h) => !excluded.has(h.label)).slice(0, k).map((h) => ({ index: h.label, score: h.score }));
  };
}

/**
 * Which filter removes a candidate of this score, if any. sentence-transformers' conditions:
 * removed when score + margin > positive, score > positive - |positive| x relative margin,
 * score > max_score, score < min_score.
 */
function rejection(score: number, positive: number, o: MineOptions): keyof MineStats['skipped'] | null {
  if (o.margin != null && score + o.margin > positive) return 'margin';
  if (o.relativeMargin != null && score > positive - Math.abs(positive) * o.relativeMargin) return 'relativeMargin';
  if (o.maxScore != null && score > o.maxScore) return 'maxScore';
  if (o.minScore != null && score < o.minScore) return 'minScore';
  return null;
}

/** Pick `n` of `xs` uniformly without replacement (partial Fisher-Yates). */
function sample<T>(xs: T[], n: number, rng: () => number): T[] {
  const a = [...xs];
  const m = Math.min(n, a.length);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rng() * (a.length - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, m);
}

/**
 * Mine negatives for `pairs` with embeddings from `embed`. Pure apart from `embed`: the same
 * pairs, vectors and options give the same result (random sampling draws from `seed`).
 */
export async function mineHardNegatives(input: readonly AnchorPositive[], embed: EmbedFn, opts: MineOptions = {}): Promise<MineResult> {
  const o = resolveMineOptions(opts);
  if (input.length === 0) throw new DataError('mine negatives: no (anchor, positive) pairs');
  const p = plan(input, opts.corpus ?? []);
  if (p.corpus.length === 0) throw new DataError('mine negatives: the corpus is empty (every positive is blank)');

  const search = chooseSearch(p.anchors.length, p.corpus.length, opts.search);
  opts.onPlan?.({ pairs: p.pairs.length, anchors: p.anchors.length, corpus: p.corpus.length, search });

  const anchorVectors = await embed(p.anchors, 'query');
  // Positives whose spelling differs from their corpus entry are embedded too, for their own score.
  const docTexts = [...new Set([...p.corpus, ...p.pairs.map((x) => x.positive)])];
  const docVectors = await embed(docTexts, 'document');
  const docVector = new Map(docTexts.map((t, i) => [t, docVectors[i]]));
  const corpusVectors = p.corpus.map((t) => docVector.get(t)!);

  const progress = opts.progress ?? false;
  const searcher = search === 'exact' ? exactSearcher(corpusVectors) : hnswSearcher(corpusVectors, opts.ef, progress);
  const rng = seedrandom(`mine-negatives:${o.seed}`);
  const skipped = { margin: 0, relativeMargin: 0, maxScore: 0, minScore: 0 };
  const positiveScore = p.pairs.map((x, i) => cosine(anchorVectors[p.anchorOf[i]], docVector.get(x.positive)!));
  const negativesOf: MinedNegative[][] = [];
  let shortAnchors = 0;

  const bar: Progress = progress && p.anchors.length >= 1000 ? progressBar('mining', p.anchors.length, 'anchors') : { update() {}, stop() {} };
  try {
    for (let a = 0; a < p.anchors.length; a++) {
      const minPositive = Math.min(...p.pairsOf[a].map((i) => positiveScore[i]));
      const window = searcher(anchorVectors[a], o.rangeMax, p.excluded[a])
        .map((h, rank) => ({ text: p.corpus[h.index], score: h.score, rank }))
        .slice(o.rangeMin);
      const kept = window.filter((c) => {
        const reason = rejection(c.score, minPositive, opts);
        if (reason) skipped[reason]++;
        return reason === null;
      });
      const chosen = o.sampling === 'top' ? kept.slice(0, o.numNegatives) : sample(kept, o.numNegatives, rng).sort((x, y) => x.rank - y.rank);
      if (chosen.length < o.numNegatives) shortAnchors++;
      negativesOf.push(chosen);
      bar.update(a + 1);
    }
  } finally {
    bar.stop();
  }

  return {
    pairs: p.pairs.map((x, i) => ({ anchor: x.anchor, positive: x.positive, positiveScore: positiveScore[i], negatives: negativesOf[p.anchorOf[i]] })),
    stats: {
      pairs: p.pairs.length,
      duplicatePairs: p.duplicatePairs,
      anchors: p.anchors.length,
      corpus: p.corpus.length,
      search,
      rangeMin: o.rangeMin,
      rangeMax: o.rangeMax,
      skipped,
      shortAnchors,
    },
  };
}

/**
 * An EmbedFn over an encoder: L2-normalised embeddings, with a progress bar when asked.
 * A model with prompts embeds anchors with its query prompt and the corpus with its document
 * prompt, as index build does (encoderRolePrompt).
 */
export function encoderEmbed(encoder: Pick<Encoder, 'encode'> & MaybePrompted, opts: { batchSize?: number; progress?: boolean } = {}): EmbedFn {
  return (texts, role) => {
    const prompt = encoder.prompts && encoder.promptFor ? { prompt: encoderRolePrompt(encoder, role) } : {};
    return encoder.encode(texts, { ...prompt, batchSize: opts.batchSize ?? 32, normalize: true, progress: (opts.progress ?? false) && texts.length > (opts.batchSize ?? 32) });
  };
}

export type OutputFormat = 'triplet' | 'n-tuple';

/**
 * Rows to write. `triplet`: one (anchor, positive, negative) row per negative, as
 * sentence-transformers' output_format="triplet"; `n-tuple`: one (anchor, positive,
 * negative_1..negative_n) row per pair, pairs with fewer than n negatives left out.
 * `scores` adds positive_score and negative_score(_i) columns.
 */
export function minedRows(pairs: readonly MinedPair[], format: OutputFormat, n: number, scores = false): { columns: string[]; rows: (string | number)[][] } {
  const r6 = (x: number) => Number(x.toFixed(6));
  if (format === 'triplet') {
    const columns = ['anchor', 'positive', 'negative', ...(scores ? ['positive_score', 'negative_score'] : [])];
    const rows = pairs.flatMap((p) => p.negatives.map((neg) => [p.anchor, p.positive, neg.text, ...(scores ? [r6(p.positiveScore), r6(neg.score)] : [])]));
    return { columns, rows };
  }
  const idx = Array.from({ length: n }, (_, i) => i + 1);
  const columns = ['anchor', 'positive', ...idx.map((i) => `negative_${i}`), ...(scores ? ['positive_score', ...idx.map((i) => `negative_score_${i}`)] : [])];
  const rows = pairs
    .filter((p) => p.negatives.length >= n)
    .map((p) => [p.anchor, p.positive, ...p.negatives.slice(0, n).map((x) => x.text), ...(scores ? [r6(p.positiveScore), ...p.negatives.slice(0, n).map((x) => r6(x.score))] : [])]);
  return { columns, rows };
}
