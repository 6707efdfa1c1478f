/**
 * What the encoder benchmarks share: the MiniLM-L6 shape (sentence-transformers/all-MiniLM-L6-v2:
 * hidden 384, 6 layers, 12 heads, intermediate 1536, vocab 30522), its FLOP count, and
 * synthetic token batches.
 */
import type { TokenBatch } from '../src/models/index.js';

export const SHAPE = { hidden: 384, layers: 6, heads: 12, intermediate: 1536, vocab: 30522 };

/**
 * FLOPs of one forward pass of B sentences of T tokens (multiply-add = 2):
 *   matmuls of the layers: 2 * (B*T) * L * (4*H*H + 2*H*I)     (Q, K, V, O; FFN in and out)
 *   attention products:     L * 4 * B * T^2 * H                  (Q K^T and P V, all heads)
 * Embedding lookups, LayerNorm, softmax and GELU are not counted (memory-bound, O(B*T*H)), so
 * GFLOP/s figures from it are a lower bound on the work done.
 */
export function forwardFlops(B: number, T: number, s = SHAPE): number {
  const tokens = B * T;
  const dense = 2 * tokens * s.layers * (4 * s.hidden * s.hidden + 2 * s.hidden * s.intermediate);
  const attention = s.layers * 4 * B * T * T * s.hidden;
  return dense + attention;
}

/** A full batch of random ids (no padding: every sentence is `seq` tokens long), the same every run. */
export function syntheticBatch(B: number, T: number, vocab = SHAPE.vocab): TokenBatch {
  const inputIds = new Int32Array(B * T);
  let s = 12345;
  for (let i = 0; i < inputIds.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    inputIds[i] = 1 + (s % (vocab - 1));
  }
  return { inputIds, attentionMask: new Int32Array(B * T).fill(1), tokenTypeIds: new Int32Array(B * T), batchSize: B, seqLen: T };
}
