/**
 * One optimizer step on a training engine that holds the encoder's weights itself (the `onnx`
 * engine, src/engine/onnx/training.ts): each text column goes through engine.forward, the loss
 * runs in tfjs on the embeddings with tf.valueAndGrads w.r.t. the embeddings (so the losses
 * keep one implementation), d loss / d embeddings goes to engine.backward, the gradients are
 * summed over columns and accumulation batches, averaged, clipped, and the engine steps.
 *
 * With training.mini_batch_size, each batch goes through GradCache instead (./cached-step.ts).
 *
 * `losses` holds one loss per batch of the group (each batch is trained with its own dataset's).
 * Same contract as the tfjs `stepOnce` in ./trainer.ts: mean loss over the group, the
 * gradient norm before clipping, and no update when either is not finite.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Recipe } from '../recipe/index.js';
import type { SentenceEncoder } from '../models/sentence-encoder.js';
import type { TrainingEngine } from '../engine/index.js';
import type { Example, TrainLoss } from './data.js';
import { embeddingLossGrads, engineCachedBatch, usesMiniBatches } from './cached-step.js';

const f = Math.fround;

export async function engineStepOnce<S>(
  engine: TrainingEngine<S>,
  encoder: SentenceEncoder,
  losses: readonly TrainLoss[],
  group: Example[][],
  trainable: Set<string>,
  recipe: Recipe,
  lr: number,
  injectNan: boolean,
): Promise<{ loss: number; norm: number; batchLosses: number[] }> {
  const sum = new Map<string, Float32Array>();
  let lossSum = 0;
  const batchLosses: number[] = [];
  for (const [b, batch] of group.entries()) {
    const loss = losses[b]; // the loss of the batch's own dataset
    if (usesMiniBatches(recipe.training.mini_batch_size, batch.length)) {
      const value = await engineCachedBatch(engine, encoder, loss, batch, recipe.training.mini_batch_size, sum); // GradCache
      lossSum += value;
      batchLosses.push(value);
      continue;
    }
    const { value, dEmbeddings, saved } = await lossAndEmbeddingGrads(engine, encoder, loss, batch);
    lossSum += value;
    batchLosses.push(value);
    for (let c = 0; c < saved.length; c++) await engine.backward(saved[c], dEmbeddings[c], sum);
  }
  // Frozen weights get gradients too (the graph computes them all); they are neither clipped nor stepped.
  for (const name of [...sum.keys()]) if (!trainable.has(name)) sum.delete(name);
  if (group.length > 1) for (const g of sum.values()) for (let i = 0; i < g.length; i++) g[i] = f(g[i] / group.length);
  const norm = clipHostAsRecipe(sum, recipe.optimizer);
  const meanLoss = injectNan ? NaN : lossSum / group.length;
  if (Number.isFinite(meanLoss) && Number.isFinite(norm)) engine.step(sum, lr);
  return { loss: meanLoss, norm, batchLosses };
}

/** Forward every column, then the loss and its gradient w.r.t. each column's embeddings. */
async function lossAndEmbeddingGrads<S>(
  engine: TrainingEngine<S>,
  encoder: SentenceEncoder,
  loss: TrainLoss,
  batch: Example[],
): Promise<{ value: number; dEmbeddings: Float32Array[]; saved: S[] }> {
  const columns = batch[0].texts.length;
  const saved: S[] = [];
  const embeddings: tf.Tensor2D[] = [];
  for (let c = 0; c < columns; c++) {
    const out = await engine.forward(encoder.tokenize(batch.map((e) => e.texts[c])));
    saved.push(out.saved);
    embeddings.push(tf.tensor2d(out.embeddings, [batch.length, engine.dim]));
  }
  const { value, dEmbeddings } = await embeddingLossGrads(loss, embeddings, batch);
  tf.dispose(embeddings);
  return { value, dEmbeddings, saved };
}

/** ||g|| of each gradient in double, rounded to float32 as the tfjs path's per-tensor norms are. */
function norms(grads: Map<string, Float32Array>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, g] of grads) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    out.set(name, f(Math.sqrt(s)));
  }
  return out;
}

function combine(perTensor: Iterable<number>): number {
  let s = 0;
  for (const n of perTensor) s += n * n;
  return f(Math.sqrt(s));
}

/**
 * Host gradients clipped in place as the recipe says (clip_grad_norm, clip_scope), with the tfjs
 * path's rounding (src/training/clip.ts clipAsRecipe); returns the global norm before clipping.
 */
export function clipHostAsRecipe(grads: Map<string, Float32Array>, optimizer: Recipe['optimizer']): number {
  const clip = optimizer.clip_grad_norm;
  if (clip === null) return globalNorm(grads);
  return optimizer.clip_scope === 'global' ? clipByGlobalNorm(grads, clip) : clipPerVariable(grads, clip);
}

/** sqrt(sum ||g||^2), as src/training/clip.ts globalNorm. */
function globalNorm(grads: Map<string, Float32Array>): number {
  return combine(norms(grads).values());
}

/** torch clip_grad_norm_ (src/training/clip.ts clipByGlobalNorm), in place; returns the norm before clipping. */
function clipByGlobalNorm(grads: Map<string, Float32Array>, maxNorm: number): number {
  const total = globalNorm(grads);
  const coef = Math.min(1, f(f(maxNorm) / f(total + f(1e-6))));
  if (coef !== 1) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = f(g[i] * coef);
  return total;
}

/** Keras clipnorm (src/training/clip.ts clipPerVariable), in place; returns the global norm before clipping. */
function clipPerVariable(grads: Map<string, Float32Array>, maxNorm: number): number {
  const each = norms(grads);
  const total = combine(each.values());
  for (const [name, g] of grads) {
    const coef = Math.min(1, f(f(maxNorm) / each.get(name)!));
    if (coef !== 1) for (let i = 0; i < g.length; i++) g[i] = f(g[i] * coef);
  }
  return total;
}

/** Copy the engine's weights into the encoder's tfjs variables (before evaluating, checkpointing, saving). */
export function copyEngineWeights(engine: TrainingEngine, vars: Map<string, tf.Variable>): void {
  if (engine.version === copiedAt.get(engine)) return;
  for (const [name, w] of engine.weights()) {
    const v = vars.get(name);
    if (!v) throw new Error(`internal: the encoder has no weight ${name}`);
    tf.tidy(() => v.assign(tf.tensor(w.data, v.shape, 'float32')));
  }
  copiedAt.set(engine, engine.version);
}

const copiedAt = new WeakMap<TrainingEngine, number>();
