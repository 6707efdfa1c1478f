/**
 * Pick the default search breadth (ef) from the data, not a constant. How much ef an HNSW
 * graph needs for a given recall depends on the intrinsic dimension of the data: embeddings of
 * real text reach recall@10 0.98 at small ef, uniformly random 384-d vectors need an order of
 * magnitude more (nearest and 100th-nearest neighbours are almost equally far there).
 *
 * At build time some items are held out of the graph, used as queries against it, and the
 * smallest ef on a ladder whose recall@k against exact brute force reaches the target becomes
 * the index's default; then the held-out items are added. Held-out items are out-of-sample
 * queries from the corpus' own distribution; items already in the graph would be easier
 * queries (the search finds the item itself and its construction-time links) and overstate
 * recall. In the spirit of FAISS's auto-tuning (https://github.com/facebookresearch/faiss/wiki/Index-IO,-cloning-and-hyper-parameter-tuning).
 */
import { exactSearch, recallAtK, rowNorms } from './exact.js';
import type { HnswIndex } from './hnsw-index.js';

/** ef candidates, smallest first; the floor of 100 leaves margin for queries unlike the sample. */
export const EF_LADDER = [100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4096];

export interface Calibration {
  /** Recall@k asked for. */
  target: number;
  /** Recall@k the sample had to reach: halfway between target and 1 (margin, see calibrateEf). */
  aim: number;
  k: number;
  /** Held-out queries used. */
  queries: number;
  /** The chosen ef, and the recall measured with it. */
  ef: number;
  recall: number;
  /** False when even the largest ef on the ladder fell short (ef is then the largest). */
  reached: boolean;
}

/** How many items to hold out of an n-item corpus (0: too small to bother, ef stays default). */
export function holdOutCount(n: number): number {
  if (n < 1000) return 0;
  return Math.min(200, Math.floor(n / 20));
}

/**
 * Measure recall@k of `index` for `queries` (vectors not in it) over the ladder and set the
 * index's default ef to the smallest whose sample recall reaches halfway between `target` and
 * 1 (0.99 for 0.98): the sample is small (<= 200 queries), and an ef that only just reaches
 * the target on it misses it on other queries about half the time.
 */
export function calibrateEf(index: HnswIndex, queries: ArrayLike<number>[], opts: { target?: number; k?: number; ladder?: number[] } = {}): Calibration {
  const target = opts.target ?? 0.98;
  const k = opts.k ?? 10;
  const ladder = opts.ladder ?? EF_LADDER;
  const labels = index.liveLabels();
  const rows = labels.map((l) => index.vector(l));
  const norms = rowNorms(rows);
  const exact = queries.map((q) => exactSearch(rows, q, k, { norms }).map((h) => labels[h.index]));
  const aim = target + (1 - target) / 2;
  let best: Calibration | null = null;
  for (const ef of ladder) {
    const approx = queries.map((q) => index.search(q, k, ef).map((h) => h.label));
    const recall = recallAtK(approx, exact, k);
    best = { target, aim, k, queries: queries.length, ef, recall, reached: recall >= aim };
    if (best.reached) break;
  }
  if (!best) throw new RangeError('empty ef ladder');
  index.setDefaultEf(best.ef, best);
  return best;
}
