/**
 * The contract between the encoder and everything built on it (training, evaluation,
 * search). Implemented by `SentenceEncoder` in ./sentence-encoder.ts.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** A padded, truncated batch of token ids, row-major [batchSize, seqLen]. */
export interface TokenBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  batchSize: number;
  seqLen: number;
}

export interface EncodeOptions {
  /** Sentences per forward pass (default 32). */
  batchSize?: number;
  /** L2-normalise each embedding (on top of any Normalize module in the model). */
  normalize?: boolean;
  /** Show a progress bar on stderr (default: only when stderr is a TTY and n > batchSize). */
  progress?: boolean;
  /** Called after each batch. */
  onBatch?: (done: number, total: number) => void;
  /** Keep the first `dim` values of each embedding and L2-normalise them again (Matryoshka models). */
  dim?: number;
  /** Text prepended to every input (`''` for none, even over the model's default prompt). */
  prompt?: string;
  /** Name of one of the model's prompts (config_sentence_transformers.json) to prepend; default: its default_prompt_name. */
  promptName?: string;
}

export interface Encoder {
  /** Output embedding size. */
  readonly dim: number;
  readonly maxSeqLength: number;
  /** Where it was loaded from: folder, hub id or `builtin:NAME`. */
  readonly source: string;
  /** Tokenise, pad to the longest text in the batch, truncate to maxSeqLength. */
  tokenize(texts: string[]): TokenBatch;
  /**
   * Sentence embeddings [batchSize, dim], differentiable with respect to
   * `trainableVariables()`. Call inside tf.tidy / tf.variableGrads.
   */
  forward(batch: TokenBatch): tf.Tensor2D;
  /** Embed texts in batches, no gradients; rows of the result are the texts' embeddings. */
  encode(texts: string[], opts?: EncodeOptions): Promise<Float32Array[]>;
  /** The variables an optimizer should update (respects freezing). */
  trainableVariables(): tf.Variable[];
  /** Every weight, by its checkpoint name (PyTorch / safetensors naming). */
  namedWeights(): Map<string, tf.Variable>;
  /** Freeze embeddings and/or the lowest `layers` transformer layers. */
  freeze(opts: { embeddings?: boolean; layers?: number }): void;
  /** Write a sentence-transformers folder that Python `SentenceTransformer(dir)` loads. */
  save(dir: string): Promise<void>;
  /** sha256 over all weights, stable across save/load (async: GPU backends read asynchronously). */
  weightsHash(): Promise<string>;
  dispose(): void;
}
