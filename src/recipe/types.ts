/**
 * The fully resolved recipe: every default applied, every path absolute. Everything after
 * `loadRecipe` takes this type and never looks at raw YAML again.
 */
import type { LOSS_NAMES, OPTIMIZERS, POOLING_MODES, SCHEDULES, TASKS } from './schema.js';

export type LossName = (typeof LOSS_NAMES)[number];
export type Column = string | number;
export type Task = (typeof TASKS)[number];

export interface Recipe {
  name: string;
  task: Task;
  model: {
    base: string;
    pooling: (typeof POOLING_MODES)[number] | null;
    normalize: boolean | null;
    max_seq_length: number | null;
    dense: { out_features: number; activation: 'tanh' | 'identity'; bias: boolean } | null;
  };
  data: {
    train: string;
    dev: string | null;
    test: string | null;
    columns: { texts: Column[]; label: Column | null };
    format: 'csv' | 'tsv' | 'jsonl' | null;
    header: boolean | null;
    score_scale: [number, number] | null;
    validation_split: number;
    on_bad_row: 'error' | 'skip';
  };
  loss: {
    name: LossName;
    margin: number | null;
    scale: number | null;
    distance: 'cosine' | 'euclidean' | 'manhattan' | null;
  };
  optimizer: {
    name: (typeof OPTIMIZERS)[number];
    lr: number;
    betas: [number, number];
    eps: number;
    weight_decay: number;
    decay_bias_and_norm: boolean;
    clip_grad_norm: number | null;
    clip_scope: 'global' | 'per_variable';
  };
  schedule: {
    name: (typeof SCHEDULES)[number];
    warmup_steps: number;
    warmup_ratio: number | null;
  };
  training: {
    epochs: number;
    max_steps: number | null;
    batch_size: number;
    grad_accum_steps: number;
    shuffle: boolean;
    no_duplicates: boolean;
    seed: number;
    freeze: { embeddings: boolean; layers: number };
    log_every: number;
    checkpoint_every: number | null;
    keep_checkpoints: number;
  };
  evaluation: {
    every_steps: number | null;
    at_epoch_end: boolean;
    batch_size: number;
    monitor: string;
    mode: 'max' | 'min';
    keep_best: boolean;
    early_stopping: { patience: number | null; min_delta: number };
  };
  output: {
    dir: string;
    model_dir: string;
    overwrite: boolean;
  };
}
