/**
 * Cross-field rules of model.lora and output.merge_lora (LoRA training, src/training/lora.ts),
 * with the same `dotted.path: message` problems as ./rules.ts. Whether the targets name layers
 * of the model is only known once it has loaded (src/models/lora.ts selectModules).
 */
import type { Recipe } from './types.js';

/** The seed builtin models are made with when an adapter folder is loaded (src/models/index.ts loadEncoder's default). */
const BUILTIN_LOAD_SEED = 42;

export function checkLora(r: Recipe, problems: string[]): void {
  const l = r.model.lora;
  if (!l) {
    if (r.output.merge_lora) problems.push('output.merge_lora: there is no adapter to merge without model.lora');
    return;
  }
  if (r.task !== 'embedding') problems.push(`model.lora: only the embedding task trains LoRA adapters, not task '${r.task}'`);
  if (l.dropout > 0) {
    // The adapter is trained through the merged weight (exact only when its input is the layer's input).
    problems.push(`model.lora.dropout: ${l.dropout} is not supported: training here applies no dropout anywhere, so LoRA trains without it; set 0`);
  }
  if (r.model.dense) problems.push('model.dense: a new Dense layer would stay at its random start, since with model.lora only the adapters train; remove one of the two');
  const f = r.training.freeze;
  if (f.embeddings || f.layers > 0) problems.push('training.freeze: with model.lora the base weights are frozen already (only the adapters train); remove training.freeze');
  if (!r.output.merge_lora && r.model.base.startsWith('builtin:') && r.training.seed !== BUILTIN_LOAD_SEED) {
    problems.push(
      `output.merge_lora: an adapter saved alone is loaded on ${r.model.base} made with seed ${BUILTIN_LOAD_SEED}, but training.seed ${r.training.seed} makes another base; set output.merge_lora: true or training.seed: ${BUILTIN_LOAD_SEED}`,
    );
  }
}
