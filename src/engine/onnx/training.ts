/**
 * The `onnx` training engine: the sentence encoder's forward and backward passes as two
 * onnxruntime-node sessions (./train-graph.ts), built once, with the weights held here as
 * Float32Arrays that every run reads through ort.Tensor views and the optimizer updates in
 * place (../adamw.ts), so nothing is rebuilt between steps.
 *
 *   forward(batch)              -> sentence embeddings [B, dim] + the saved activations
 *   backward(saved, dEmbedding) -> one gradient per weight (and the saved activations are freed)
 *   step(gradients, lr)         -> AdamW on the weights held here
 *   weights() / load()          -> named Float32Arrays (checkpoints, saving, hashing)
 *
 * The losses never see this: they run in tfjs on the embeddings (src/training/engine-step.ts).
 */
import type * as Ort from 'onnxruntime-node';
import type { TransformerConfig } from '../../models/config.js';
import { TransformerModel, relativePositionBucket } from '../../models/transformer.js';
import type { TokenBatch } from '../../models/types.js';
import type { HostAdamW } from '../adamw.js';
import type { TrainingEngine } from '../index.js';
import type { EncoderSpec, NamedWeights } from './encoder.js';
import { EMBEDDINGS_SUM_GRAD, POSITION_BIAS_GRAD, gradName, savedInputName } from './backward.js';
import { encodeModel } from './proto.js';
import { buildTrainingGraphs, type TrainingGraphs } from './train-graph.js';
import type { ExecutionProvider } from './providers.js';
import { loadOrt, sessionOptions, type OrtModule, type OrtSession } from './runtime.js';

/** What forward() keeps for backward(): the batch and the forward graph's outputs. */
export interface SavedActivations {
  batch: TokenBatch;
  outputs: Record<string, Ort.Tensor> | null;
}

export interface TrainingEngineOptions {
  /** onnxruntime intra-op threads (fix it for bit-identical resumes). */
  threads?: number;
  /** Where the forward and backward graphs run (default cpu; ./providers.ts). The weights stay on the host either way. */
  provider?: ExecutionProvider;
}

/**
 * A session as ./runtime.ts createSession makes them (all graph optimizations, sequential,
 * one intra-op pool), except that its threads do not spin-wait after a run: the forward and
 * backward sessions and the host work between them (loss, gradient sums, AdamW) take turns,
 * and a pool left spinning would steal the cores the next one computes on. (No difference
 * measured between the two sessions alone at 2 threads: 1.24 vs 1.26 s.)
 */
function trainingSession(ort: OrtModule, model: Uint8Array, opts: TrainingEngineOptions): Promise<OrtSession> {
  return ort.InferenceSession.create(model, {
    ...sessionOptions(opts),
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
}

interface Weight {
  data: Float32Array;
  shape: number[];
  tensor: Ort.Tensor;
}

export class OnnxTrainingEngine implements TrainingEngine<SavedActivations> {
  readonly name = 'onnx';
  /** Bumped whenever the held weights change (step, load): what a copy of them is current for. */
  version = 0;

  private constructor(
    private readonly ort: OrtModule,
    readonly spec: EncoderSpec,
    private readonly graphs: TrainingGraphs,
    private readonly forwardSession: OrtSession,
    private readonly backwardSession: OrtSession,
    private readonly held: Map<string, Weight>,
    private readonly optimizer: HostAdamW | null,
  ) {}

  /** Sessions for `spec`, holding a copy of `weights` (internal layout: linear kernels [in, out]). */
  static async create(spec: EncoderSpec, weights: NamedWeights, optimizer: HostAdamW | null, opts: TrainingEngineOptions = {}): Promise<OnnxTrainingEngine> {
    const ort = await loadOrt();
    const graphs = buildTrainingGraphs(spec);
    const held = new Map<string, Weight>();
    for (const [name, w] of weights) {
      const data = new Float32Array(w.data);
      held.set(name, { data, shape: [...w.shape], tensor: new ort.Tensor('float32', data, w.shape) });
    }
    for (const name of graphs.forwardWeights) if (!held.has(name)) throw new Error(`internal: the training graph needs weight ${name}, which the encoder does not have`);
    const [fwd, bwd] = await Promise.all([trainingSession(ort, encodeModel(graphs.forward), opts), trainingSession(ort, encodeModel(graphs.backward), opts)]);
    return new OnnxTrainingEngine(ort, spec, graphs, fwd, bwd, held, optimizer);
  }

  get dim(): number {
    return this.graphs.dim;
  }

  private get config(): TransformerConfig {
    return this.spec.config;
  }

  private weightFeeds(names: string[], feeds: Record<string, Ort.Tensor>): Record<string, Ort.Tensor> {
    for (const name of names) feeds[name] = this.held.get(name)!.tensor;
    return feeds;
  }

  private int64(data: Int32Array, batch: TokenBatch): Ort.Tensor {
    return new this.ort.Tensor('int64', BigInt64Array.from(data, (x) => BigInt(x)), [batch.batchSize, batch.seqLen]);
  }

  /** Sentence embeddings [B, dim] (row-major) and what backward() needs. */
  async forward(batch: TokenBatch): Promise<{ embeddings: Float32Array; saved: SavedActivations }> {
    const feeds: Record<string, Ort.Tensor> = { input_ids: this.int64(batch.inputIds, batch), attention_mask: this.int64(batch.attentionMask, batch) };
    if (this.config.typeVocabSize > 0) feeds.token_type_ids = this.int64(batch.tokenTypeIds, batch);
    this.weightFeeds(this.graphs.forwardWeights, feeds);
    const outputs = await this.forwardSession.run(feeds);
    const emb = outputs.sentence_embedding;
    if (emb.dims[0] !== batch.batchSize || emb.dims[1] !== this.dim) throw new Error(`internal: the training graph gave [${emb.dims}], expected [${batch.batchSize}, ${this.dim}]`);
    return { embeddings: emb.data as Float32Array, saved: { batch, outputs } };
  }

  /**
   * Gradients of every weight (by checkpoint name) given d loss / d embeddings [B, dim]. The
   * saved activations are released here; a second backward of the same forward is an error.
   * With `into`, the gradients are added to the ones there (summing columns and accumulation
   * batches): the embedding tables' rows are scattered straight in, so a second column costs
   * no [vocab, hidden] pass.
   */
  async backward(saved: SavedActivations, dEmbeddings: Float32Array, into?: Map<string, Float32Array>): Promise<Map<string, Float32Array>> {
    const outs = saved.outputs;
    if (!outs) throw new Error('internal: backward() called twice on the same forward()');
    saved.outputs = null;
    const { batch } = saved;
    const feeds: Record<string, Ort.Tensor> = {};
    feeds.attention_mask = this.int64(batch.attentionMask, batch);
    feeds.d_sentence_embedding = new this.ort.Tensor('float32', dEmbeddings, [batch.batchSize, this.dim]);
    for (const [key, tensor] of this.graphs.saved) feeds[savedInputName(key)] = outs[tensor];
    const r = await this.backwardSession.run(this.weightFeeds(this.graphs.backwardWeights, feeds));
    const grads = into ?? new Map<string, Float32Array>();
    for (const name of this.graphs.gradWeights) {
      const g = r[gradName(name)].data as Float32Array;
      const acc = grads.get(name);
      if (!acc) grads.set(name, g);
      else for (let i = 0; i < g.length; i++) acc[i] += g[i];
    }
    this.embeddingGrads(batch, r[EMBEDDINGS_SUM_GRAD].data as Float32Array, grads);
    if (r[POSITION_BIAS_GRAD]) this.positionBiasGrad(batch.seqLen, r[POSITION_BIAS_GRAD].data as Float32Array, grads);
    return grads;
  }

  /**
   * Gather's gradient: the rows of d(word + position + token type) [B*T, H] added into each
   * table at the row that was looked up, in token order (deterministic).
   */
  private embeddingGrads(batch: TokenBatch, dSum: Float32Array, grads: Map<string, Float32Array>): void {
    const cfg = this.config;
    const H = cfg.hiddenSize;
    // The position ids the tfjs model uses (its rule reads only the config).
    const positions = TransformerModel.prototype.positionIds.call({ config: cfg } as TransformerModel, batch);
    const tables: [string, Int32Array][] = [
      ['embeddings.word_embeddings.weight', batch.inputIds],
      ['embeddings.position_embeddings.weight', positions],
    ];
    if (cfg.typeVocabSize > 0) tables.push(['embeddings.token_type_embeddings.weight', batch.tokenTypeIds]);
    for (const [name, ids] of tables) {
      const out = this.gradBuffer(grads, name);
      for (let r = 0; r < ids.length; r++) {
        const dst = ids[r] * H;
        const src = r * H;
        for (let j = 0; j < H; j++) out[dst + j] += dSum[src + j];
      }
    }
  }

  /** The gradient of `name` in `grads`, zeros when not there yet. */
  private gradBuffer(grads: Map<string, Float32Array>, name: string): Float32Array {
    let out = grads.get(name);
    if (!out) {
      out = new Float32Array(this.held.get(name)!.data.length);
      grads.set(name, out);
    }
    return out;
  }

  /** MPNet: d bias [heads, T, T] into the bucket table [buckets, heads]. */
  private positionBiasGrad(T: number, d: Float32Array, grads: Map<string, Float32Array>): void {
    const cfg = this.config;
    const nh = cfg.numHeads;
    const name = 'encoder.relative_attention_bias.weight';
    const out = this.gradBuffer(grads, name);
    for (let h = 0; h < nh; h++) {
      for (let q = 0; q < T; q++) {
        for (let k = 0; k < T; k++) out[relativePositionBucket(k - q, cfg.relativeAttentionNumBuckets) * nh + h] += d[(h * T + q) * T + k];
      }
    }
  }

  /** One optimizer step on the weights held here (in place; the sessions keep reading them). */
  step(grads: Map<string, Float32Array>, lr: number): void {
    if (!this.optimizer) throw new Error('internal: this training engine was created without an optimizer');
    const params = new Map<string, Float32Array>();
    for (const [name, w] of this.held) params.set(name, w.data);
    this.optimizer.apply(params, grads, lr);
    this.version += 1;
  }

  /** The weights held here (live: they change with every step), by checkpoint name. */
  weights(): NamedWeights {
    const out: NamedWeights = new Map();
    for (const [name, w] of this.held) out.set(name, { data: w.data, shape: w.shape });
    return out;
  }

  /** Copy `weights` into the held buffers (same names and sizes). */
  load(weights: Map<string, Float32Array>): void {
    for (const [name, data] of weights) {
      const w = this.held.get(name);
      if (!w) throw new Error(`internal: the training engine has no weight ${name}`);
      if (w.data.length !== data.length) throw new Error(`internal: ${name} has ${data.length} values, the engine holds ${w.data.length}`);
      w.data.set(data);
    }
    this.version += 1; // the weights changed: a copy taken before is stale
  }

  async release(): Promise<void> {
    await Promise.all([this.forwardSession.release(), this.backwardSession.release()]);
  }
}
