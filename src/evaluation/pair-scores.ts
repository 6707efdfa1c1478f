/**
 * Pairwise similarity scores of float32 embeddings, computed the way sentence-transformers'
 * util.pairwise_cos_sim / pairwise_euclidean_sim / pairwise_manhattan_sim / pairwise_dot_score
 * do in torch: float32 embeddings, cosine = dot of L2-normalised rows (eps 1e-12, as
 * torch.nn.functional.normalize), distances negated so that higher always means more similar.
 * Each result is rounded to float32 like torch's output, then used as float64 by the metrics.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/util.py
 */
export const SIMILARITY_FNS = ['cosine', 'euclidean', 'manhattan', 'dot'] as const;
export type SimilarityFnName = (typeof SIMILARITY_FNS)[number];

const f32 = Math.fround;

/** The row divided by its L2 norm (at least 1e-12), in float32 as torch.nn.functional.normalize. */
export function normalizeF32(a: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  const n = Math.max(f32(Math.sqrt(s)), 1e-12);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / n;
  return out;
}

/** Dot product, accumulated as the pair scores are and rounded to float32. */
export function dotF32(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return f32(s);
}

export function pairScore(fn: SimilarityFnName, a: Float32Array, b: Float32Array): number {
  switch (fn) {
    case 'cosine':
      return dotF32(normalizeF32(a), normalizeF32(b));
    case 'dot':
      return dotF32(a, b);
    case 'euclidean': {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += f32(a[i] - b[i]) ** 2;
      return -f32(Math.sqrt(s));
    }
    case 'manhattan': {
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Math.abs(f32(a[i] - b[i]));
      return -f32(s);
    }
  }
}

/** Scores of matching rows: a[i] vs b[i]. */
export function pairScores(fn: SimilarityFnName, a: readonly Float32Array[], b: readonly Float32Array[]): Float64Array {
  if (a.length !== b.length) throw new Error(`pairScores: ${a.length} vs ${b.length} rows`);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = pairScore(fn, a[i], b[i]);
  return out;
}

/**
 * Encode each distinct text once (pairs repeat sentences; STSb test has ~5% repeats, training
 * dev sets more) and hand back a lookup. Order of first appearance, so runs are reproducible.
 */
export async function embedUnique(
  encoder: { encode(texts: string[], opts?: { batchSize?: number; progress?: boolean; prompt?: string }): Promise<Float32Array[]> },
  texts: Iterable<string>,
  opts: { batchSize?: number; progress?: boolean; prompt?: string } = {},
): Promise<Map<string, Float32Array>> {
  const unique = [...new Set(texts)];
  const rows = await encoder.encode(unique, { batchSize: opts.batchSize ?? 32, progress: opts.progress, ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}) });
  if (rows.length !== unique.length) throw new Error(`encoder returned ${rows.length} rows for ${unique.length} texts`);
  return new Map(unique.map((t, i) => [t, rows[i] instanceof Float32Array ? rows[i] : Float32Array.from(rows[i])]));
}
