/**
 * Running our ONNX encoder graphs with onnxruntime-node: the runtime loaded on first use, a
 * session from bytes or a file, and a TokenBatch fed as the int64 inputs the graph declares.
 * Used by export (to verify what it wrote), by the `onnx` inference backend (./inference.ts)
 * and by tests.
 *
 * onnxruntime-node is imported lazily, never at start-up: it is a native addon, and a missing
 * or broken install must only matter to the commands that run ONNX, where it is one line
 * (see `loadOrt`), not a crash of every command.
 */
import type * as Ort from 'onnxruntime-node';
import type { TokenBatch } from '../../models/types.js';
import { providerSessionOptions, type ExecutionProvider } from './providers.js';

export type OrtModule = typeof Ort;
export type OrtSession = Ort.InferenceSession;

let ortModule: Promise<OrtModule> | null = null;
let loaded: OrtModule | null = null;

/** Why onnxruntime-node did not load (module not found, native library missing...). */
export class OrtLoadError extends Error {}

/**
 * onnxruntime-node, imported once. Rejects with an OrtLoadError whose message is one line
 * naming the cause; a later call tries again.
 */
export function loadOrt(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-node').then(
    (m) => {
      const ort = ((m as unknown as { default?: OrtModule }).default ?? m) as OrtModule;
      if (typeof ort.InferenceSession?.create !== 'function') throw new OrtLoadError('onnxruntime-node has no InferenceSession (a broken install?)');
      loaded = ort;
      return ort;
    },
    (e: unknown) => {
      ortModule = null;
      throw new OrtLoadError(firstLine(e));
    },
  );
  return ortModule;
}

/** The version onnxruntime-node reports (needs `loadOrt` first). */
export function ortVersion(): string {
  return loaded?.env.versions?.node ?? loaded?.env.versions?.common ?? 'unknown version';
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n').find((l) => l.trim())?.trim() ?? 'unknown error';
}

function ort(): OrtModule {
  if (!loaded) throw new Error('internal: onnxruntime-node used before loadOrt()');
  return loaded;
}

export interface SessionOptions {
  /** Intra-op threads (default: onnxruntime's choice). Fix it for reproducible timings. */
  threads?: number;
  /** Where the nodes run (default cpu; ./providers.ts). On a GPU, `threads` sizes the pool of the nodes left on the CPU. */
  provider?: ExecutionProvider;
}

/**
 * Every graph optimization on; one intra-op pool of `threads`, no inter-op parallelism; the
 * execution provider asked for. (The training engine adds to these.)
 */
export function sessionOptions(opts: SessionOptions): Ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    ...providerSessionOptions(opts.provider ?? 'cpu'),
  };
}

/** A session as `sessionOptions` says. */
export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<OrtSession> {
  const rt = await loadOrt();
  const options = sessionOptions(opts);
  return typeof model === 'string' ? rt.InferenceSession.create(model, options) : rt.InferenceSession.create(model, options);
}

function int64(data: Int32Array, batch: TokenBatch): Ort.Tensor {
  const out = new BigInt64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = BigInt(data[i]);
  return new (ort().Tensor)('int64', out, [batch.batchSize, batch.seqLen]);
}

/** The feeds for the inputs `session` declares (token_type_ids only where the model has them). */
export function batchFeeds(session: OrtSession, batch: TokenBatch): Record<string, Ort.Tensor> {
  const all: Record<string, Int32Array> = { input_ids: batch.inputIds, attention_mask: batch.attentionMask, token_type_ids: batch.tokenTypeIds };
  const feeds: Record<string, Ort.Tensor> = {};
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
export async function runEncoder(session: OrtSession, batch: TokenBatch): Promise<EncoderOutputs> {
  const out = await session.run(batchFeeds(session, batch));
  const emb = out.sentence_embedding;
  const hidden = out.last_hidden_state;
  return { sentenceEmbedding: emb.data as Float32Array, dim: emb.dims[1], lastHiddenState: hidden.data as Float32Array };
}

/** Only the sentence embeddings [batch, dim] (onnxruntime then copies nothing else out). */
export async function runSentenceEmbedding(session: OrtSession, batch: TokenBatch): Promise<{ data: Float32Array; dim: number }> {
  const out = await session.run(batchFeeds(session, batch), ['sentence_embedding']);
  const emb = out.sentence_embedding;
  return { data: emb.data as Float32Array, dim: emb.dims[1] };
}
