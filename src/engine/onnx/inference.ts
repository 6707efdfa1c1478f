/**
 * The `onnx` inference engine: `SentenceEncoder.encode()` runs the encoder lowered to ONNX
 * (./encoder.ts) in an onnxruntime-node session, one per encoder, built on first use with
 * symbolic batch and sequence dims so it serves every batch shape.
 *
 * tfjs keeps the weights (loading, training, checkpoints); the session holds a copy. So the
 * copy must never go stale: each session is keyed by the identity of every weight's tfjs
 * data (`Variable.dataId`, which tfjs replaces on every `assign`: optimizer steps, snapshot
 * restores) plus the modules' spec (pooling, Dense, Normalize), and rebuilt when the key
 * differs. Checking the key is one identity comparison per weight, so it runs before every
 * batch; there is no version counter for the code that assigns weights to remember to bump.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../../errors.js';
import type { SentenceEncoder } from '../../models/sentence-encoder.js';
import type { TokenBatch } from '../../models/types.js';
import type { InferenceEngine } from '../index.js';
import { encoderSpec, encoderToOnnx } from './encoder.js';
import { encodeModel } from './proto.js';
import type { ExecutionProvider } from './providers.js';
import { createSession, runSentenceEmbedding, type OrtSession } from './runtime.js';

/** protobuf messages stop at 2 GiB (the same limit export.ts names). */
const MAX_MODEL_BYTES = 2 ** 31 - 2 ** 24;

/** What a session was built from: weight names, their tfjs data identities, the module spec. */
interface WeightsKey {
  names: string[];
  dataIds: object[];
  spec: string;
}

function keyOf(encoder: SentenceEncoder): WeightsKey {
  const named = encoder.namedWeights();
  const names: string[] = [];
  const dataIds: object[] = [];
  for (const [name, v] of named) {
    names.push(name);
    dataIds.push((v as tf.Tensor).dataId as object);
  }
  const { pooling, dense, normalize } = encoderSpec(encoder);
  return { names, dataIds, spec: JSON.stringify({ pooling, dense, normalize }) };
}

function sameKey(a: WeightsKey, b: WeightsKey): boolean {
  if (a.spec !== b.spec || a.names.length !== b.names.length) return false;
  for (let i = 0; i < a.names.length; i++) if (a.names[i] !== b.names[i] || a.dataIds[i] !== b.dataIds[i]) return false;
  return true;
}

interface Entry {
  key: WeightsKey;
  session: Promise<OrtSession>;
  /** Runs in flight on this session; a replaced session is released when they are done. */
  runs: number;
  retired: boolean;
  released: boolean;
}

export interface OnnxEngineOptions {
  /** onnxruntime intra-op threads (on a GPU provider: for the nodes left on the CPU). */
  threads: number;
  /** Where the sessions run (default cpu; ./providers.ts). */
  provider?: ExecutionProvider;
}

export class OnnxInferenceEngine implements InferenceEngine {
  readonly name = 'onnx';
  private readonly sessions = new WeakMap<SentenceEncoder, Entry>();
  /** Sessions built so far (tests check that a weight change rebuilds, and nothing else does). */
  builds = 0;

  constructor(readonly options: OnnxEngineOptions) {}

  async embed(encoder: SentenceEncoder, batch: TokenBatch): Promise<Float32Array> {
    const entry = this.entryFor(encoder);
    entry.runs++;
    try {
      const session = await entry.session;
      const { data, dim } = await runSentenceEmbedding(session, batch);
      if (dim !== encoder.dim || data.length !== batch.batchSize * dim) {
        throw new Error(`internal: the ONNX encoder gave [${batch.batchSize}, ${dim}], expected [${batch.batchSize}, ${encoder.dim}]`);
      }
      return data;
    } finally {
      entry.runs--;
      if (entry.retired) this.releaseWhenIdle(entry);
    }
  }

  release(encoder: SentenceEncoder): void {
    const entry = this.sessions.get(encoder);
    if (!entry) return;
    this.sessions.delete(encoder);
    entry.retired = true;
    this.releaseWhenIdle(entry);
  }

  /** The session for the encoder's current weights: the cached one, or a new one. */
  private entryFor(encoder: SentenceEncoder): Entry {
    // The key is read in the same synchronous step that starts reading the weights (build),
    // so the session holds exactly the weights the key names.
    const key = keyOf(encoder);
    const cached = this.sessions.get(encoder);
    if (cached && sameKey(cached.key, key)) return cached;
    if (cached) {
      cached.retired = true;
      this.releaseWhenIdle(cached);
    }
    const entry: Entry = { key, session: this.build(encoder), runs: 0, retired: false, released: false };
    // A failed build is not cached: the next call tries again (and fails the same way, loudly).
    entry.session.catch(() => {
      if (this.sessions.get(encoder) === entry) this.sessions.delete(encoder);
    });
    this.sessions.set(encoder, entry);
    return entry;
  }

  private async build(encoder: SentenceEncoder): Promise<OrtSession> {
    const { model } = await encoderToOnnx(encoder);
    const weightBytes = model.graph.initializers.reduce((n, t) => n + t.raw.length, 0);
    if (weightBytes >= MAX_MODEL_BYTES) {
      throw new ModelError(`${encoder.source}: ${(weightBytes / 2 ** 30).toFixed(1)} GiB of weights do not fit in one ONNX graph (2 GiB limit); run it with --backend wasm`);
    }
    this.builds++;
    return createSession(encodeModel(model), { threads: this.options.threads, provider: this.options.provider });
  }

  private releaseWhenIdle(entry: Entry): void {
    if (entry.runs > 0 || entry.released) return;
    entry.released = true;
    entry.session.then((s) => s.release()).catch(() => {});
  }
}
