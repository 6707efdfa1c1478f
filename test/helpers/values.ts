/** Deterministic test values in [-half, half) from a seed (an LCG, no tf RNG, so every backend sees the same): fixed embeddings, weights, gradients. */
export function values(n: number, seed: number, half = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 * half - half;
  }
  return out;
}
