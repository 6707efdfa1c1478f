/**
 * The `classification:` section of a recipe (task: classification, src/training/classification.ts):
 * its schema entries, the defaults that depend on other keys, and its cross-field rules. Kept
 * here, beside ./schema.ts, so the task's keys read as one unit.
 *
 * What a SetFit / sentence-transformers user expects: a head on the sentence embedding
 * (`softmax`: a linear layer trained with cross-entropy, SetFit's differentiable head;
 * `logistic`: multinomial logistic regression on frozen embeddings, SetFit's default
 * scikit-learn head), full fine-tuning or a frozen encoder, class weights, and `setfit: true`
 * for a contrastive fine-tune of the encoder on pairs sampled from the labels before the head.
 */
import { CLASSIFICATION_METRICS } from '../evaluation/classification-metrics.js';
import type { FieldSpec } from './schema.js';
import type { Recipe } from './types.js';

export const CLASSIFICATION_HEADS = ['softmax', 'logistic'] as const;
/** Losses the SetFit contrastive phase may use: pair losses with a 0/1 (same label or not) target. */
export const SETFIT_LOSSES = ['cosine_mse', 'contrastive', 'online_contrastive'] as const;

const SETFIT_FIELDS: Record<string, FieldSpec> = {
  iterations: { kind: 'number', integer: true, min: 1, max: 1000, default: 20, why: "SetFit's num_iterations: every training text gets this many positive and this many negative partners" },
  loss: { kind: 'enum', values: SETFIT_LOSSES, default: 'cosine_mse', why: 'SetFit trains the body with CosineSimilarityLoss (target 1 for the same label, 0 otherwise)' },
  epochs: { kind: 'number', integer: true, min: 1, default: 1, why: "SetFit's default num_epochs for the body: one pass over the generated pairs" },
};

export const CLASSIFICATION_SCHEMA: { kind: 'object'; fields: Record<string, FieldSpec> } = {
  kind: 'object',
  fields: {
    head: {
      kind: 'enum',
      values: CLASSIFICATION_HEADS,
      default: 'softmax',
      why: 'softmax = a linear layer trained with cross-entropy (can train the encoder too); logistic = L2-regularised logistic regression fitted on frozen embeddings (SetFit / scikit-learn style)',
    },
    frozen: {
      kind: 'boolean',
      nullable: true,
      default: null,
      why: 'null = frozen with setfit or the logistic head (the head is fitted on fixed embeddings), else false: full fine-tune, the head loss trains the encoder too',
    },
    labels: {
      kind: 'list',
      items: { kind: 'string', why: 'a label as written in the label column' },
      minItems: 2,
      unique: true,
      nullable: true,
      default: null,
      why: 'null = the distinct labels of the train file, sorted; list them to fix the class order (the head outputs) across runs',
    },
    class_weights: {
      kind: 'oneOf',
      nullable: true,
      default: null,
      options: [
        { kind: 'enum', values: ['balanced'], why: '' },
        { kind: 'map', values: { kind: 'number', min: 0, exclusiveMin: true, why: '' }, why: '' },
      ],
      why: 'null = every row weighs the same; balanced = n / (classes x count), as scikit-learn; or a mapping label: weight (labels left out weigh 1)',
    },
    head_lr: { kind: 'number', min: 0, exclusiveMin: true, max: 10, default: 0.01, why: "SetFit's head_learning_rate: a fresh head learns faster than the pretrained encoder (which keeps optimizer.lr)" },
    head_epochs: { kind: 'number', integer: true, min: 1, nullable: true, default: null, why: 'null = training.epochs (full fine-tune) or 25 on frozen embeddings (embedded once, so epochs are cheap)' },
    logistic_c: { kind: 'number', min: 0, exclusiveMin: true, default: 1, why: "scikit-learn LogisticRegression's default C (inverse L2 strength); logistic head only" },
    setfit: {
      kind: 'oneOf',
      default: false,
      options: [
        { kind: 'boolean', why: '' },
        { kind: 'object', fields: SETFIT_FIELDS, why: '' },
      ],
      why: 'false = no contrastive phase; true (or a mapping of its settings) = SetFit: fine-tune the encoder on same-label / different-label pairs first, then fit the head',
    },
  },
};

/** The SetFit settings with every default, or null when the phase is off. */
export function setfitSettings(r: Recipe): { iterations: number; loss: (typeof SETFIT_LOSSES)[number]; epochs: number } | null {
  const s = r.classification.setfit;
  if (s === false) return null;
  const defaults = { iterations: 20, loss: 'cosine_mse' as const, epochs: 1 };
  return s === true ? defaults : { ...defaults, ...s };
}

/** Fill the classification defaults that depend on other keys (called by resolveRecipe). */
export function resolveClassification(r: Recipe): void {
  if (r.task !== 'classification') return; // left as written, so checkStrayClassification sees what the user set
  const c = r.classification;
  if (c.frozen === null) c.frozen = c.setfit !== false || c.head === 'logistic';
  if (c.setfit === true) c.setfit = setfitSettings(r)!;
  if (c.head_epochs === null) c.head_epochs = c.frozen ? 25 : r.training.epochs;
}

/** The monitor a classification run defaults to. */
export const CLASSIFICATION_MONITOR = 'accuracy';

/** Cross-field rules of task: classification (called from ./task-rules.ts). */
export function checkClassificationRules(r: Recipe, problems: string[]): void {
  const c = r.classification;
  const nTexts = r.data.columns.texts.length;
  if (nTexts !== 1) problems.push(`data.columns.texts: task classification reads one text column, the mapping gives ${nTexts} (e.g. texts: [text])`);
  if (r.data.columns.label === null) problems.push('data.columns.label: task classification needs a label column (the class of each text)');
  if (r.data.score_scale !== null) problems.push('data.score_scale: labels of task classification are classes, not scores; remove score_scale');
  if (r.training.grad_accum_steps !== 1) problems.push(`training.grad_accum_steps: task classification updates after every batch; leave it at 1, got ${r.training.grad_accum_steps}`);
  if (c.head === 'logistic' && c.frozen === false) problems.push('classification.frozen: the logistic head is fitted on frozen embeddings; use head: softmax to train the encoder with the head');
  if (c.head !== 'logistic' && c.logistic_c !== 1) problems.push(`classification.logistic_c: only read by head: logistic, not head: ${c.head}`);
  if (c.labels !== null && c.class_weights !== null && typeof c.class_weights === 'object') {
    for (const k of Object.keys(c.class_weights)) {
      if (!c.labels.includes(k)) problems.push(`classification.class_weights.${k}: not one of classification.labels (${c.labels.join(', ')})`);
    }
  }
  const m = r.evaluation.monitor;
  if (m !== 'dev_loss' && !(CLASSIFICATION_METRICS as readonly string[]).includes(m)) {
    problems.push(`evaluation.monitor: task classification reports ${CLASSIFICATION_METRICS.join(', ')} and dev_loss, got '${m}'`);
  }
}

/** A classification section that differs from its defaults in a recipe of another task is a mistake. */
export function checkStrayClassification(r: Recipe, problems: string[]): void {
  if (r.task === 'classification' || r.classification === undefined) return;
  const c = r.classification;
  const set = Object.entries(c).filter(([k, v]) => {
    const spec = CLASSIFICATION_SCHEMA.fields[k];
    return JSON.stringify(v) !== JSON.stringify('default' in spec ? spec.default : null);
  });
  if (set.length) problems.push(`classification.${set[0][0]}: only read by task classification, not task '${r.task}'`);
}
