/**
 * The training-run fixture of the onnx training engine's tests (test/onnx-training.test.ts
 * against tfjs, test/onnx-gpu-backends.test.ts on a GPU execution provider against the CPU
 * one): 32 rows of three texts, a similarity score and a binary label, each loss's columns,
 * and the recipe (builtin:tiny, batches of 4, AdamW with warmup and clipping).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** 32 rows: three texts, a similarity score in [0, 1] and a binary label; the CSV's path under `root`. */
export function writeTrainData(root: string): string {
  const words = ['guitar', 'onion', 'horse', 'piano', 'car', 'dog', 'river', 'bread', 'phone', 'chair', 'cloud', 'apple'];
  const rows = ['a,b,c,score,bin'];
  for (let i = 0; i < 32; i++) {
    const w = (k: number) => words[(i * 7 + k * 5) % words.length];
    rows.push(`A man with a ${w(0)}.,Someone has a ${w(i % 3 === 0 ? 0 : 1)} here.,The ${w(2)} is not ${w(3)}.,${((i * 37) % 100) / 100},${i % 2}`);
  }
  const file = join(root, 'train.csv');
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

/** Each loss's columns in that file. */
export const LOSS_COLUMNS: Record<string, { texts: string[]; label: string | null }> = {
  cosine_mse: { texts: ['a', 'b'], label: 'score' },
  angular_mse: { texts: ['a', 'b'], label: 'score' },
  cosent: { texts: ['a', 'b'], label: 'score' },
  contrastive: { texts: ['a', 'b'], label: 'bin' },
  online_contrastive: { texts: ['a', 'b'], label: 'bin' },
  multiple_negatives_ranking: { texts: ['a', 'b', 'c'], label: null },
  triplet: { texts: ['a', 'b', 'c'], label: null },
  multiple_negatives_symmetric_ranking: { texts: ['a', 'b'], label: null },
  angle: { texts: ['a', 'b'], label: 'score' },
};

/** The recipe of the parity and resume runs, as the YAML would hold it; its output dir is a new folder under `root`. */
export function trainRecipe(root: string, loss: string, file: string, training: Record<string, unknown> = {}, optimizer: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: { base: 'builtin:tiny', max_seq_length: 16 },
    data: { train: file, columns: LOSS_COLUMNS[loss] },
    loss: { name: loss },
    optimizer: { name: 'adamw', lr: 1e-4, weight_decay: 0.01, clip_grad_norm: 1, ...optimizer },
    schedule: { name: 'linear', warmup_steps: 2 },
    training: { batch_size: 4, epochs: 8, max_steps: 16, seed: 13, checkpoint_every: null, ...training },
    output: { dir: mkdtempSync(join(root, `run-${loss}-`)) },
  };
}
