/**
 * The names LoRA targets go by (PEFT `target_modules`), without dependencies, so that the
 * recipe schema can list them (src/recipe/schema.ts) and src/models/lora.ts can match them.
 */
import type { Architecture } from './config.js';

/** The names a recipe's `model.lora.target` may hold (PEFT target_modules short names of every architecture we run). */
export const LORA_TARGETS = [
  'query',
  'key',
  'value',
  'dense',
  'attention.output.dense',
  'intermediate.dense',
  'output.dense',
  'q_lin',
  'k_lin',
  'v_lin',
  'out_lin',
  'lin1',
  'lin2',
  'q',
  'k',
  'v',
  'o',
] as const;

/**
 * The attention query and value projections: PEFT's default target_modules for bert, roberta
 * and xlm-roberta (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING), and the same two
 * projections of distilbert and mpnet, which that table does not list.
 */
export const DEFAULT_LORA_TARGETS: Record<Architecture, string[]> = {
  bert: ['query', 'value'],
  roberta: ['query', 'value'],
  'xlm-roberta': ['query', 'value'],
  distilbert: ['q_lin', 'v_lin'],
  mpnet: ['q', 'v'],
};
