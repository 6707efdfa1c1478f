/**
 * Cached in-batch negatives (GradCache): a large batch's loss and gradients in the memory of a
 * mini-batch. `training.mini_batch_size` turns it on, for any loss, on both training paths.
 *
 *   1. embed    every column of the batch, mini-batch by mini-batch, keeping no graph:
 *               the embeddings [batch, dim] are all that stays.
 *   2. loss     on the whole batch's embeddings, with d loss / d embeddings (tf.valueAndGrads):
 *               every anchor still ranks against every candidate of the batch.
 *   3. backward each mini-batch again, this time with its graph, as
 *               d/dθ Σ(embeddings_mb(θ) · dEmbeddings_mb), summed into one gradient per weight.
 *
 * The chain rule makes step 3's sum the full batch's gradient, so the loss and every weight's
 * gradient equal the uncached step's (up to float32 rounding; test/losses-cached.test.ts), while
 * only one mini-batch's activations are alive at a time. The price is a second forward pass of
 * each mini-batch (about a third more compute). The whole batch is tokenised once and sliced,
 * so each row sees the same padding as in the uncached step. The encoders here have no dropout
 * at training time (src/models: dropout 0, no dropout layer), so the second forward pass is the
 * first one exactly and no random state needs replaying (sentence-transformers' RandContext).
 *
 * Reference: Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
 * Limited Setup", https://arxiv.org/abs/2101.06983; sentence-transformers
 * `losses/CachedMultipleNegativesRankingLoss.py`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { SentenceEncoder } from '../models/sentence-encoder.js';
import type { TokenBatch } from '../models/types.js';
import type { TrainingEngine } from '../engine/index.js';
import type { Example, TrainLoss } from './data.js';

/** What runs the encoder, for the GradCache passes. */
interface MiniBatchPasses {
  /** Embeddings of these rows [rows * dim], no graph kept. */
  embed(tokens: TokenBatch): Promise<Float32Array>;
  /** Embed these rows again with the graph and add d loss / d weights, given d loss / d embeddings of them. */
  backward(tokens: TokenBatch, dEmbeddings: Float32Array): Promise<void>;
}

/** Whether a batch of `rows` is embedded in mini-batches under this setting (one mini-batch would only cost a pass). */
export function usesMiniBatches(miniBatch: number | null | undefined, rows: number): miniBatch is number {
  return miniBatch !== null && miniBatch !== undefined && miniBatch < rows;
}

/**
 * The tfjs path: the same { value, grads } as tf.variableGrads(() => batch loss, varList) (grads by
 * tf variable name), computed with GradCache.
 */
export async function cachedVariableGrads(
  encoder: SentenceEncoder,
  loss: TrainLoss,
  batch: Example[],
  varList: tf.Variable[],
  miniBatch: number,
): Promise<{ value: tf.Scalar; grads: tf.NamedTensorMap }> {
  const grads: tf.NamedTensorMap = {};
  const value = await gradCache(
    {
      async embed(tokens) {
        const e = tf.tidy(() => encoder.forward(tokens)); // no tf.variableGrads around it: no tape is kept
        const data = (await e.data()) as Float32Array;
        e.dispose();
        return data;
      },
      async backward(tokens, dEmbeddings) {
        const part = tf.variableGrads(() => tf.sum(tf.mul(encoder.forward(tokens), tf.tensor2d(dEmbeddings, [tokens.batchSize, encoder.dim]))) as tf.Scalar, varList);
        part.value.dispose();
        for (const [name, g] of Object.entries(part.grads)) {
          const prev = grads[name];
          if (prev === undefined) grads[name] = g;
          else {
            grads[name] = tf.add(prev, g);
            prev.dispose();
            g.dispose();
          }
        }
      },
    },
    encoder,
    loss,
    batch,
    miniBatch,
    encoder.dim,
  );
  return { value: tf.scalar(value), grads };
}

/**
 * The engine path (src/training/engine-step.ts): the batch's gradients are added into `into`
 * (by checkpoint name) as engine.backward does; returns the batch's loss.
 */
export async function engineCachedBatch<S>(
  engine: TrainingEngine<S>,
  encoder: SentenceEncoder,
  loss: TrainLoss,
  batch: Example[],
  miniBatch: number,
  into: Map<string, Float32Array>,
): Promise<number> {
  return gradCache(
    {
      // The saved activations of this pass are dropped (garbage), only the embeddings are kept.
      embed: async (tokens) => (await engine.forward(tokens)).embeddings,
      async backward(tokens, dEmbeddings) {
        const { saved } = await engine.forward(tokens);
        await engine.backward(saved, dEmbeddings, into);
      },
    },
    encoder,
    loss,
    batch,
    miniBatch,
    engine.dim,
  );
}

/** The three GradCache passes over one batch; returns its loss. */
async function gradCache(passes: MiniBatchPasses, encoder: SentenceEncoder, loss: TrainLoss, batch: Example[], miniBatch: number, dim: number): Promise<number> {
  const n = batch.length;
  const columns = batch[0].texts.length;
  const tokens = Array.from({ length: columns }, (_, c) => encoder.tokenize(batch.map((e) => e.texts[c])));
  const parts: Array<[number, number]> = [];
  for (let begin = 0; begin < n; begin += miniBatch) parts.push([begin, Math.min(begin + miniBatch, n)]);

  // 1. embed, no graph
  const embeddings: tf.Tensor2D[] = [];
  for (const t of tokens) {
    const all = new Float32Array(n * dim); // [n, dim]
    for (const [begin, end] of parts) all.set(await passes.embed(sliceTokens(t, begin, end)), begin * dim);
    embeddings.push(tf.tensor2d(all, [n, dim]));
  }
  // 2. the loss and its gradient on the whole batch
  const { value, dEmbeddings } = await embeddingLossGrads(loss, embeddings, batch);
  tf.dispose(embeddings);
  // 3. each mini-batch again, with its slice of the gradient
  for (const [c, t] of tokens.entries()) {
    for (const [begin, end] of parts) await passes.backward(sliceTokens(t, begin, end), dEmbeddings[c].slice(begin * dim, end * dim));
  }
  return value;
}

/**
 * The loss of a batch from its column embeddings, and d loss / d embeddings per column
 * (row-major [batch * dim] each); `embeddings` stay the caller's.
 */
export async function embeddingLossGrads(loss: TrainLoss, embeddings: tf.Tensor2D[], batch: Example[]): Promise<{ value: number; dEmbeddings: Float32Array[] }> {
  const labels = loss.needsLabel ? tf.tensor1d(batch.map((e) => e.label ?? NaN), 'float32') : null;
  const { value, grads } = tf.valueAndGrads((...e: tf.Tensor[]) => loss.lossFromEmbeddings(e as tf.Tensor2D[], labels))(embeddings);
  const [v, ...d] = await Promise.all([value.data(), ...grads.map((g) => g.data())]);
  for (const t of [value, ...grads]) t.dispose();
  labels?.dispose();
  return { value: v[0], dEmbeddings: d as Float32Array[] };
}

/** Rows [begin, end) of a token batch, with the whole batch's padding. */
export function sliceTokens(b: TokenBatch, begin: number, end: number): TokenBatch {
  const T = b.seqLen;
  return {
    inputIds: b.inputIds.slice(begin * T, end * T),
    attentionMask: b.attentionMask.slice(begin * T, end * T),
    tokenTypeIds: b.tokenTypeIds.slice(begin * T, end * T),
    batchSize: end - begin,
    seqLen: T,
  };
}
