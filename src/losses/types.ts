/**
 * The contract every loss implements, plus the input checks they share.
 *
 * A loss is split the sentence-transformers way: the trainer encodes each text column of a
 * batch with the same (Siamese) encoder, then hands the embeddings to a pure
 * `lossFromEmbeddings`, so the maths is testable without a model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

export interface Loss {
  readonly name: string;
  /** Fewest text columns per example (1 to 3). */
  readonly columns: number;
  /** Most text columns accepted; above `columns` only for losses with optional extras (MNRL hard negatives). */
  readonly maxColumns: number;
  /** Uses the score / label column. */
  readonly needsLabel: boolean;
  /**
   * The labels this loss is defined on; null when it takes none or any number will do (CoSENT
   * uses only their order). Data readers and recipe rules read it from here, so a loss and its
   * checks cannot disagree.
   */
  readonly labelRange: LabelRange | null;
  /**
   * Fewest examples a training batch must hold: 2 for in-batch negatives, where an anchor's
   * negatives are the other examples' positives. The trainer drops smaller batches
   * (src/training/data.ts) and the recipe rules refuse smaller batch sizes.
   */
  readonly minBatch: number;
  /** The resolved parameters (defaults filled in), for run records. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /**
   * embeddings: one [batch, dim] tensor per text column; labels [batch] or null.
   * Returns a scalar; intermediate tensors are disposed (tf.tidy).
   */
  lossFromEmbeddings(embeddings: tf.Tensor2D[], labels: tf.Tensor1D | null): tf.Scalar;
}

/**
 * Labels a loss accepts: any number in [min, max] (a similarity on the scale of the loss's
 * similarity function), or exactly the classes 0 (dissimilar) and 1 (similar).
 */
export type LabelRange = { kind: 'interval'; min: number; max: number } | { kind: 'binary' };

export function labelFits(range: LabelRange, v: number): boolean {
  return range.kind === 'binary' ? v === 0 || v === 1 : v >= range.min && v <= range.max;
}

/** "in [0, 1]" / "0 or 1", for messages. */
export function describeLabelRange(range: LabelRange): string {
  return range.kind === 'binary' ? '0 or 1' : `in [${range.min}, ${range.max}]`;
}

/**
 * Check the column count, shapes and label presence before any maths, so a wrong data file
 * or loss choice fails with a message naming the loss instead of a tfjs shape error.
 * Wrong column count / missing labels are user mistakes (ConfigError); mismatched shapes
 * among tensors we built ourselves are bugs (plain Error).
 */
export function checkInputs(loss: Loss, embeddings: tf.Tensor2D[], labels: tf.Tensor1D | null): void {
  const n = embeddings.length;
  if (n < loss.columns || n > loss.maxColumns) {
    const want = loss.columns === loss.maxColumns ? `${loss.columns}` : `${loss.columns}-${loss.maxColumns}`;
    throw new ConfigError(`loss ${loss.name}: needs ${want} text columns per example, got ${n}`);
  }
  if (loss.needsLabel && labels === null) {
    throw new ConfigError(`loss ${loss.name}: needs a score/label column, but the batch has none`);
  }
  const [batch, dim] = embeddings[0].shape;
  for (const [i, e] of embeddings.entries()) {
    if (e.rank !== 2) throw new Error(`loss ${loss.name}: embeddings[${i}] must be [batch, dim], got shape [${e.shape.join(', ')}]`);
    if (e.shape[0] !== batch || e.shape[1] !== dim) {
      throw new Error(`loss ${loss.name}: embeddings[${i}] has shape [${e.shape.join(', ')}], expected [${batch}, ${dim}]`);
    }
  }
  if (batch === 0) throw new Error(`loss ${loss.name}: empty batch`);
  if (loss.needsLabel && labels !== null && (labels.rank !== 1 || labels.shape[0] !== batch)) {
    throw new Error(`loss ${loss.name}: labels must be [${batch}], got shape [${labels.shape.join(', ')}]`);
  }
}

/**
 * A Loss from its description and its maths. The inputs are checked (checkInputs) and every
 * intermediate tensor of `compute` disposed (tf.tidy) here, once for all losses.
 */
export function defineLoss(
  shape: Omit<Loss, 'lossFromEmbeddings'>,
  compute: (embeddings: tf.Tensor2D[], labels: tf.Tensor1D | null) => tf.Scalar,
): Loss {
  const loss: Loss = {
    ...shape,
    lossFromEmbeddings(embeddings, labels) {
      checkInputs(loss, embeddings, labels);
      return tf.tidy(() => compute(embeddings, labels));
    },
  };
  return loss;
}

export type ParamValue = number | boolean | string;
/** A loss parameter: its default (with why), and for strings the allowed choices. */
export type LossParamSpec = Record<string, { default: ParamValue; positive?: boolean; choices?: readonly string[]; why: string }>;

/**
 * Resolve user-given parameters against a loss's spec: unknown names and bad values are
 * reported together (dotted `loss.<name>` paths, like the recipe validator). A `null` or
 * `undefined` value means "the loss's own default", as the recipe's nullable fields do.
 */
export function resolveParams(lossName: string, spec: LossParamSpec, given: Record<string, unknown> = {}): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  const problems: string[] = [];
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(spec, key) && given[key] !== null && given[key] !== undefined) {
      const valid = Object.keys(spec);
      problems.push(`loss.${key}: unknown parameter for ${lossName} (valid: ${valid.length ? valid.join(', ') : 'none'})`);
    }
  }
  for (const [key, s] of Object.entries(spec)) {
    const v = given[key];
    if (v === undefined || v === null) {
      out[key] = s.default;
    } else if (typeof s.default === 'string') {
      if (typeof v !== 'string' || !(s.choices ?? []).includes(v)) problems.push(`loss.${key}: must be one of ${(s.choices ?? []).join(', ')}`);
      else out[key] = v;
    } else if (typeof s.default === 'boolean') {
      if (typeof v !== 'boolean') problems.push(`loss.${key}: must be true or false`);
      else out[key] = v;
    } else if (typeof v !== 'number' || !Number.isFinite(v)) {
      problems.push(`loss.${key}: must be a finite number`);
    } else if (s.positive && v <= 0) {
      problems.push(`loss.${key}: must be > 0`);
    } else {
      out[key] = v;
    }
  }
  if (problems.length) throw new ConfigError(problems.join('; '), problems);
  return out;
}
