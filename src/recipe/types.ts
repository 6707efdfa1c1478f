/**
 * The fully resolved recipe: every default applied, every path absolute. Everything after
 * `loadRecipe` takes this type and never looks at raw YAML again.
 */
import type { LORA_TARGETS } from '../models/lora-targets.js';
import type { CLASSIFICATION_HEADS, SETFIT_LOSSES } from './classification.js';
import type { EVALUATOR_TYPES, LOSS_NAMES, MULTI_DATASET_SAMPLERS, OPTIMIZERS, POOLING_MODES, SCHEDULES, TASKS } from './schema.js';

export type LoraTarget = (typeof LORA_TARGETS)[number];
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
    prompts: Record<string, string> | null;
    default_prompt_name: string | null;
    lora: { r: number; alpha: number; dropout: number; target: LoraTarget[] | null } | null;
  };
  data: {
    /** One file (read with the keys below, trained with `loss`), or several datasets. */
    train: string | TrainDataset[];
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
    matryoshka: { dims: number[]; weights: number[] | null } | null;
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
    multi_dataset_sampler: (typeof MULTI_DATASET_SAMPLERS)[number];
    mini_batch_size: number | null;
    prompts: (string | null)[] | null;
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
    evaluators: EvaluatorConfig[];
  };
  mlm: { probability: number; whole_word: boolean };
  distill: {
    teacher: string | null;
    student: { layers: number[] | null };
    speed_texts: number;
  };
  /** task: classification (src/recipe/classification.ts); `frozen`, `head_epochs` and `setfit: true` are resolved. */
  classification: {
    head: (typeof CLASSIFICATION_HEADS)[number];
    frozen: boolean | null;
    labels: string[] | null;
    class_weights: 'balanced' | Record<string, number> | null;
    head_lr: number;
    head_epochs: number | null;
    logistic_c: number;
    setfit: boolean | { iterations: number; loss: (typeof SETFIT_LOSSES)[number]; epochs: number };
  };
  output: {
    dir: string;
    model_dir: string;
    overwrite: boolean;
    merge_lora: boolean;
  };
}

/** One training dataset of a `data.train` list, resolved: every key filled from data.* / loss.* where the item left it out. */
export interface TrainDataset {
  name: string;
  file: string;
  columns: { texts: Column[]; label: Column | null };
  format: 'csv' | 'tsv' | 'jsonl' | null;
  header: boolean | null;
  score_scale: [number, number] | null;
  loss: Recipe['loss'];
}

/** One `evaluation.evaluators` item, resolved (name and columns filled, path absolute). */
export interface EvaluatorConfig {
  type: (typeof EVALUATOR_TYPES)[number];
  file: string;
  name: string;
  columns: { texts: Column[]; label: Column | null };
  format: 'csv' | 'tsv' | 'jsonl' | null;
  header: boolean | null;
}
