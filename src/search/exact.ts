/**
 * Exact (brute-force) cosine top-k: the reference that the HNSW index is measured against
 * (recall@k) and the fallback for tiny corpora. O(n * d) per query, no approximation.
 */

export interface ExactHit {
  /** Row of the corpus matrix. */
  index: number;
  /** Cosine similarity in [-1, 1]. */
  score: number;
}

const EPS = 1e-12;

/** L2 norms of each row (computed once per corpus, reused for every query). */
export function rowNorms(rows: ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const v = rows[r];
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] * v[i];
    out[r] = Math.sqrt(s);
  }
  return out;
}

/** a is a worse hit than b: lower score, or equal score and a later row. */
function worse(a: ExactHit, b: ExactHit): boolean {
  return a.score < b.score || (a.score === b.score && a.index > b.index);
}

/**
 * The k rows most cosine-similar to `query`, best first. Ties are broken by the lower row
 * index, so the result is fully deterministic. `skip(i)` leaves rows out (deleted items).
 * Pass `norms` (from rowNorms) when querying the same rows many times.
 */
export function exactSearch(
  rows: ArrayLike<number>[],
  query: ArrayLike<number>,
  k: number,
  opts: { norms?: Float64Array; skip?: (index: number) => boolean } = {},
): ExactHit[] {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`k must be a non-negative integer, got ${k}`);
  const norms = opts.norms ?? rowNorms(rows);
  let qn = 0;
  for (let i = 0; i < query.length; i++) qn += query[i] * query[i];
  qn = Math.sqrt(qn);
  // Min-heap (by `worse`) of the best k so far: the root is the weakest kept hit.
  const heap: ExactHit[] = [];
  for (let r = 0; r < rows.length && k > 0; r++) {
    if (opts.skip?.(r)) continue;
    const v = rows[r];
    if (v.length !== query.length) throw new RangeError(`row ${r} has dimension ${v.length}, query has ${query.length}`);
    let d = 0;
    for (let i = 0; i < v.length; i++) d += v[i] * query[i];
    const hit = { index: r, score: d / Math.max(norms[r] * qn, EPS) };
    if (heap.length < k) {
      heap.push(hit);
      siftUp(heap, heap.length - 1);
    } else if (worse(heap[0], hit)) {
      heap[0] = hit;
      siftDown(heap, 0);
    }
  }
  return heap.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
}

function siftUp(h: ExactHit[], i: number): void {
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!worse(h[i], h[p])) break;
    [h[i], h[p]] = [h[p], h[i]];
    i = p;
  }
}

function siftDown(h: ExactHit[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < h.length && worse(h[l], h[m])) m = l;
    if (r < h.length && worse(h[r], h[m])) m = r;
    if (m === i) return;
    [h[i], h[m]] = [h[m], h[i]];
    i = m;
  }
}

/**
 * Recall@k of approximate results against exact ones: the share of the exact top-k found
 * by the approximate search, averaged over queries (the ann-benchmarks definition,
 * https://github.com/erikbern/ann-benchmarks).
 */
export function recallAtK(approx: number[][], exact: number[][], k: number): number {
  if (approx.length !== exact.length) throw new RangeError('approx and exact need one row per query');
  if (approx.length === 0) return 1;
  let found = 0;
  let wanted = 0;
  for (let q = 0; q < exact.length; q++) {
    const truth = new Set(exact[q].slice(0, k));
    wanted += truth.size;
    for (const i of approx[q].slice(0, k)) if (truth.has(i)) found++;
  }
  return wanted === 0 ? 1 : found / wanted;
}
