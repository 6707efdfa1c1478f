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

/**
 * The training half of the seam (see ../../shared/DESIGN-engine.md): an engine that holds the
 * encoder's weights and runs its forward and backward passes; the losses stay in tfjs on the
 * embeddings (src/training/engine-step.ts). The tfjs path (src/training/trainer.ts `stepOnce`)
 * is the reference; `onnx` is ./onnx/training.ts, chosen with train(recipe, { engine: 'onnx' }).
 */
export interface TrainingEngine<Saved = unknown> {
  readonly name: string;
  /** sentence_embedding's width. */
  readonly dim: number;
  /** Bumped whenever the held weights change (a copy of them is current for one version). */
  readonly version: number;
  /** Sentence embeddings [B, dim] (row-major) and what backward() needs. */
  forward(batch: TokenBatch): Promise<{ embeddings: Float32Array; saved: Saved }>;
  /**
   * Gradient of every weight, by checkpoint name, given d loss / d embeddings [B, dim]; frees
   * `saved`. With `into`, adds them to those gradients (and returns that map).
   */
  backward(saved: Saved, dEmbeddings: Float32Array, into?: Map<string, Float32Array>): Promise<Map<string, Float32Array>>;
  /** One optimizer step on the held weights. */
  step(gradients: Map<string, Float32Array>, lr: number): void;
  /** The held weights (live), by checkpoint name, internal layout (linear kernels [in, out]). */
  weights(): Map<string, { data: Float32Array; shape: number[] }>;
  /** Copy `weights` into the held ones. */
  load(weights: Map<string, Float32Array>): void;
  release(): Promise<void>;
}
