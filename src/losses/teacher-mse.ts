/**
 * MSELoss for distillation: the student's sentence embedding regressed onto the teacher's.
 *
 * Formula (batch of n texts, student embeddings s_i, teacher embeddings t_i, width d):
 *
 *     loss = 1/(n·d) · Σ_i Σ_k (s_ik - t_ik)²          (torch.nn.MSELoss, mean over every element)
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | the text |
 * | label | its row in the teacher table (an index, not a score) |
 *
 * The teacher's embeddings are computed once per run (src/training/distill.ts) and held in one
 * [rows, d] table; each example carries its row as the label, so the batch goes through the
 * training loop (both engines, gradient accumulation, dev loss) like any other loss.
 *
 * Reference: sentence-transformers `losses/MSELoss.py`; Reimers & Gurevych 2020, "Making
 * Monolingual Sentence Embeddings Multilingual using Knowledge Distillation",
 * https://arxiv.org/abs/2004.09813.
 *
 * Example: s = [1, 0], t = [0, 0]  ->  loss (1² + 0²) / 2 = 0.5.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineLoss, type Loss } from './types.js';

export interface TeacherTable {
  /** Row-major [rows, dim] teacher embeddings. */
  data: Float32Array;
  dim: number;
}

/** The loss and the tensor it holds (dispose it when training ends). */
export function createTeacherMseLoss(table: TeacherTable): { loss: Loss; dispose: () => void } {
  const rows = table.data.length / table.dim;
  const targets = tf.tensor2d(table.data, [rows, table.dim], 'float32');
  const loss = defineLoss(
    { name: 'teacher_mse', columns: 1, maxColumns: 1, needsLabel: true, labelRange: null, minBatch: 1, params: {} },
    (embeddings, labels) => {
      const [, dim] = embeddings[0].shape;
      if (dim !== table.dim) throw new Error(`teacher_mse: student embeddings are ${dim} wide, the teacher's ${table.dim}`);
      const t = tf.gather(targets, tf.cast(labels!, 'int32'));
      return tf.mean(tf.squaredDifference(embeddings[0], t)) as tf.Scalar;
    },
  );
  return { loss, dispose: () => targets.dispose() };
}
