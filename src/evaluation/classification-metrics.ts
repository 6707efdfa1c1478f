/**
 * Classification metrics: pure functions over label indices, with the definitions and edge
 * cases of scikit-learn's `sklearn.metrics` (checked against it by test/classification.test.ts
 * with a fixture written by benchmarks/peers/classification_metrics_fixture.py):
 *
 *   accuracy            share of predictions equal to the truth
 *   precision_c         TP_c / (TP_c + FP_c)   (0 when class c is never predicted: zero_division=0)
 *   recall_c            TP_c / (TP_c + FN_c)   (0 when class c never occurs)
 *   f1_c                2 P R / (P + R)        (0 when P + R = 0)
 *   macro_*             unweighted mean over the classes
 *   weighted_*          mean over the classes weighted by their support (true count)
 *   micro_*             from the summed TP / FP / FN (= accuracy for single-label data)
 *
 * Reference: https://scikit-learn.org/stable/modules/model_evaluation.html#precision-recall-f-measure-metrics
 */

export interface ClassificationMetrics {
  accuracy: number;
  macro_precision: number;
  macro_recall: number;
  macro_f1: number;
  micro_precision: number;
  micro_recall: number;
  micro_f1: number;
  weighted_precision: number;
  weighted_recall: number;
  weighted_f1: number;
  /** Per class, in label-index order. */
  perClass: Array<{ precision: number; recall: number; f1: number; support: number }>;
  /** confusion[t][p]: how many rows of true class t were predicted as p (sklearn confusion_matrix). */
  confusion: number[][];
}

/** The metric names an evaluation reports (and `evaluation.monitor` may name), besides dev_loss. */
export const CLASSIFICATION_METRICS = [
  'accuracy',
  'macro_precision',
  'macro_recall',
  'macro_f1',
  'micro_precision',
  'micro_recall',
  'micro_f1',
  'weighted_precision',
  'weighted_recall',
  'weighted_f1',
] as const;

/** confusion[t][p] over `numClasses` classes. */
export function confusionMatrix(yTrue: readonly number[], yPred: readonly number[], numClasses: number): number[][] {
  if (yTrue.length !== yPred.length) throw new Error(`confusionMatrix: ${yTrue.length} true labels but ${yPred.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i];
    const p = yPred[i];
    if (!(Number.isInteger(t) && t >= 0 && t < numClasses && Number.isInteger(p) && p >= 0 && p < numClasses)) {
      throw new Error(`confusionMatrix: label ${t} / prediction ${p} at ${i} is not a class index below ${numClasses}`);
    }
    m[t][p] += 1;
  }
  return m;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
const f1 = (p: number, r: number) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));

/** Every metric above for predictions of single-label data with classes 0..numClasses-1. */
export function classificationMetrics(yTrue: readonly number[], yPred: readonly number[], numClasses: number): ClassificationMetrics {
  if (yTrue.length === 0) throw new Error('classificationMetrics: no rows');
  const confusion = confusionMatrix(yTrue, yPred, numClasses);
  const perClass = confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, v) => a + v, 0);
    const predicted = confusion.reduce((a, r) => a + r[c], 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { precision, recall, f1: f1(precision, recall), support };
  });
  const n = yTrue.length;
  const mean = (k: 'precision' | 'recall' | 'f1') => perClass.reduce((a, c) => a + c[k], 0) / numClasses;
  const weighted = (k: 'precision' | 'recall' | 'f1') => perClass.reduce((a, c) => a + c[k] * c.support, 0) / n;
  const tp = perClass.reduce((a, _c, i) => a + confusion[i][i], 0);
  // Single-label: every wrong prediction is one FP (for the predicted class) and one FN (for the true one).
  const microP = ratio(tp, n);
  const microR = ratio(tp, n);
  return {
    accuracy: tp / n,
    macro_precision: mean('precision'),
    macro_recall: mean('recall'),
    macro_f1: mean('f1'),
    micro_precision: microP,
    micro_recall: microR,
    micro_f1: f1(microP, microR),
    weighted_precision: weighted('precision'),
    weighted_recall: weighted('recall'),
    weighted_f1: weighted('f1'),
    perClass,
    confusion,
  };
}

/**
 * Class weights as sklearn's `compute_class_weight('balanced')`: n / (k * count_c), so every
 * class contributes the same total weight. A class with no rows gets weight 0 (it has no loss
 * terms to weigh; sklearn refuses such a class instead).
 */
export function balancedClassWeights(labels: readonly number[], numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const l of labels) counts[l] += 1;
  const present = counts.filter((c) => c > 0).length;
  return counts.map((c) => (c === 0 ? 0 : labels.length / (present * c)));
}

/** The flat metric map an evaluation reports: the aggregates, then `f1_<label>` etc. per class. */
export function flatClassificationMetrics(m: ClassificationMetrics, labelNames: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of CLASSIFICATION_METRICS) out[k] = m[k];
  m.perClass.forEach((c, i) => {
    out[`precision_${labelNames[i]}`] = c.precision;
    out[`recall_${labelNames[i]}`] = c.recall;
    out[`f1_${labelNames[i]}`] = c.f1;
  });
  return out;
}
