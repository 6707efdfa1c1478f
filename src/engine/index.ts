/**
 * The encoder engine seam, inference half (see ../../shared/DESIGN-engine.md): what turns a
 * token batch into sentence embeddings for `SentenceEncoder.encode()`. Training, losses and
 * every `forward()` stay on tfjs; only `encode()` (encode, eval, heatmap, index, search,
 * serve, and the evaluations during training) goes through the active engine.
 *
 *   tfjs  the encoder's own forward pass on the current tfjs backend (the reference)
 *   onnx  the same encoder lowered to an ONNX graph, run by onnxruntime-node
 *         (./onnx/inference.ts; parity with tfjs is test/onnx-parity.test.ts)
 *
 * src/backend/index.ts is the one place that chooses; this module only holds the choice.
 */
import type { SentenceEncoder } from '../models/sentence-encoder.js';
import type { TokenBatch } from '../models/types.js';

export interface InferenceEngine {
  /** 'tfjs' or 'onnx'. */
  readonly name: string;
  /** Sentence embeddings of `batch`, row-major [batchSize, encoder.dim], no gradients. */
  embed(encoder: SentenceEncoder, batch: TokenBatch): Promise<Float32Array>;
  /** Forget what is cached for `encoder` (it is being disposed). */
  release(encoder: SentenceEncoder): void;
}

let active: InferenceEngine | null = null;

/** The engine `encode()` uses; null: the encoder's tfjs forward pass. */
export function inferenceEngine(): InferenceEngine | null {
  return active;
}

/** Called by initBackend only. */
export function setInferenceEngine(engine: InferenceEngine | null): void {
  active = engine;
}
