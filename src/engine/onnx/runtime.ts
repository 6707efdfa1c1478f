/**
 * Running our ONNX encoder graphs with onnxruntime-node: a session from bytes or a file, and
 * a TokenBatch fed as the int64 inputs the graph declares. Used by export (to verify what it
 * wrote) and by tests; the place an `onnx` inference backend will grow from.
 */
import * as ort from 'onnxruntime-node';
import type { TokenBatch } from '../../models/types.js';

export interface SessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). Fix it for reproducible timings. */
  threads?: number;
}

export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {};
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

function int64(data: Int32Array, batch: TokenBatch): ort.Tensor {
  const out = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = BigInt(data[i]);
  return new ort.Tensor('int64', out, [batch.batchSize, batch.seqLen]);
}

/** The feeds for the inputs `session` declares (token_type_ids only where the model has them). */
export function batchFeeds(session: ort.InferenceSession, batch: TokenBatch): Record<string, ort.Tensor> {
  const all: Record<string, Int32Array> = { input_ids: batch.inputIds, attention_mask: batch.attentionMask, token_type_ids: batch.tokenTypeIds };
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    if (!all[name]) throw new Error(`internal: the ONNX model wants an input '${name}' that a TokenBatch does not have`);
    feeds[name] = int64(all[name], batch);
  }
  return feeds;
}

export interface EncoderOutputs {
  /** [batch, dim], row-major. */
  sentenceEmbedding: Float32Array;
  dim: number;
  /** [batch, seq, hidden], row-major. */
  lastHiddenState: Float32Array;
}

/** Run an exported encoder on a batch. */
export async function runEncoder(session: ort.InferenceSession, batch: TokenBatch): Promise<EncoderOutputs> {
  const out = await session.run(batchFeeds(session, batch));
  const emb = out.sentence_embedding;
  const hidden = out.last_hidden_state;
  return { sentenceEmbedding: emb.data as Float32Array, dim: emb.dims[1], lastHiddenState: hidden.data as Float32Array };
}
