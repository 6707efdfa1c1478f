/**
 * MatryoshkaLoss: train an embedding whose prefixes are embeddings too. Wraps any other loss
 * and applies it to the first d values of every column's embeddings, for each d in `dims`,
 * each prefix L2-normalised again (what `encode --dim d` returns), then sums with weights:
 *
 *     loss = Σ_k w_k * inner(normalize(u[:, :d_k]), normalize(v[:, :d_k]), ..., labels)
 *
 * The columns, labels and batch needs are the inner loss's (see its file). Cosine-based inner
 * losses give the same value with or without the re-normalisation (cosine ignores length);
 * distance-based ones (triplet, contrastive with euclidean) see the unit vectors that a
 * truncated `encode` produces. Dims are applied largest first, as sentence-transformers does.
 *
 * Reference: sentence-transformers `losses/MatryoshkaLoss.py` (matryoshka_dims,
 * matryoshka_weights, default weight 1 each,
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/MatryoshkaLoss.py);
 * Kusupati et al. 2022, Matryoshka Representation Learning, https://arxiv.org/abs/2205.13147.
 *
 * Example: inner cosine_mse, u = [3, 4, 1], v = [3, 4, -1], label 1, dims [3, 2], weights [1, 2]:
 *   d 3: cos = (9 + 16 - 1) / 26 = 0.923, (0.923 - 1)² = 0.0059;  d 2: cos = 1, 0
 *   loss = 1 * 0.0059 + 2 * 0 = 0.0059.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { l2Normalize } from '../similarity/index.js';
import { defineLoss, type Loss } from './types.js';

export interface MatryoshkaOptions {
  dims: readonly number[];
  /** One per dim; default 1 each. */
  weights?: readonly number[] | null;
}

export function createMatryoshkaLoss(inner: Loss, opts: MatryoshkaOptions): Loss {
  const weights = opts.weights ?? opts.dims.map(() => 1);
  if (opts.dims.length === 0) throw new ConfigError('loss.matryoshka.dims: give at least one dim');
  if (weights.length !== opts.dims.length) throw new ConfigError(`loss.matryoshka.weights: ${weights.length} weight(s) for ${opts.dims.length} dim(s)`);
  const pairs = opts.dims.map((d, i) => ({ dim: d, weight: weights[i] })).sort((a, b) => b.dim - a.dim);
  return defineLoss(
    {
      name: inner.name,
      columns: inner.columns,
      maxColumns: inner.maxColumns,
      needsLabel: inner.needsLabel,
      labelRange: inner.labelRange,
      minBatch: inner.minBatch,
      params: { ...inner.params, matryoshka_dims: opts.dims.join(','), matryoshka_weights: weights.join(',') },
    },
    (embeddings, labels) => {
      const width = embeddings[0].shape[1];
      for (const { dim } of pairs) if (dim > width) throw new ConfigError(`loss.matryoshka.dims: ${dim} is more than the embedding size ${width}`);
      let total: tf.Scalar | null = null;
      for (const { dim, weight } of pairs) {
        const prefixes = embeddings.map((e) => l2Normalize(tf.slice(e, [0, 0], [-1, dim]) as tf.Tensor2D)); // [batch, dim] each
        const term = tf.mul(inner.lossFromEmbeddings(prefixes, labels), weight) as tf.Scalar;
        total = total === null ? term : (tf.add(total, term) as tf.Scalar); // tf.add: addN has no gradient in tfjs
      }
      return total!;
    },
  );
}

/** Refuse dims wider than the model's embedding before training starts (one line, exit 2). */
export function checkMatryoshkaDims(dims: readonly number[], embeddingDim: number, source: string): void {
  const over = dims.filter((d) => d > embeddingDim);
  if (over.length) throw new ConfigError(`loss.matryoshka.dims: ${over.join(', ')} ${over.length === 1 ? 'is' : 'are'} more than the ${embeddingDim} values model ${source} makes per embedding`);
}
