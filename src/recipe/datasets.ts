/**
 * Several training datasets in one run (`data.train` as a list) and extra evaluation sets
 * (`evaluation.evaluators`): how a recipe's items are resolved (names, paths, the keys an item
 * leaves to data.* / loss.*), and the cross-field rules that only these lists have. The rules
 * each dataset shares with a one-file recipe (its columns against its loss) are ./rules.ts's,
 * run once per item.
 */
import { basename, extname } from 'node:path';
import { EVALUATOR_METRICS, EVALUATOR_PRIMARY } from '../evaluation/metric-names.js';
import type { EvaluatorConfig, Recipe, TrainDataset } from './types.js';

/** A dataset or evaluator name goes into metric keys (loss/<name>, <name>_cosine_accuracy). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Whether the recipe trains on a list of datasets. */
export function isMultiDataset(r: Recipe): r is Recipe & { data: { train: TrainDataset[] } } {
  return Array.isArray(r.data.train);
}

/**
 * The training datasets, always as a list: a one-file recipe is one dataset named `train`
 * with data.* and loss.* as they are.
 */
export function trainDatasets(r: Recipe): TrainDataset[] {
  if (isMultiDataset(r)) return r.data.train;
  const d = r.data;
  return [{ name: 'train', file: d.train as string, columns: d.columns, format: d.format, header: d.header, score_scale: d.score_scale, loss: r.loss }];
}

/** The one training file of a recipe that has one (the tasks that read a single file). */
export function singleTrainFile(r: Recipe): string {
  if (typeof r.data.train !== 'string') throw new Error('internal: data.train is a list here; the rules allow it for the embedding task only');
  return r.data.train;
}

const stem = (file: string) => basename(file, extname(file));

/** Fill what list items leave out and make their paths absolute (in place, on the resolved copy). */
export function resolveLists(out: Recipe, abs: (p: string) => string): void {
  if (Array.isArray(out.data.train)) {
    out.data.train = out.data.train.map((item) => ({
      name: item.name ?? stem(item.file),
      file: abs(item.file),
      columns: structuredClone(item.columns ?? out.data.columns),
      format: item.format ?? out.data.format,
      header: item.header ?? out.data.header,
      score_scale: item.score_scale ?? out.data.score_scale,
      loss: structuredClone(item.loss ?? out.loss),
    }));
  }
  out.evaluation.evaluators = (out.evaluation.evaluators ?? []).map((e) => ({
    type: e.type,
    file: abs(e.file),
    name: e.name ?? stem(e.file),
    columns: structuredClone(e.columns ?? out.data.columns),
    format: e.format,
    header: e.header,
  }));
}

/** The metric keys an evaluator reports (prefixed by its name), for evaluation.monitor. */
export function evaluatorMetricKeys(e: Pick<EvaluatorConfig, 'type' | 'name'>): string[] {
  return EVALUATOR_METRICS[e.type].map((m) => `${e.name}_${m}`);
}

/** The evaluator's primary metric key. */
export function evaluatorPrimaryKey(e: Pick<EvaluatorConfig, 'type' | 'name'>): string {
  return `${e.name}_${EVALUATOR_PRIMARY[e.type]}`;
}

/** Texts each evaluator type reads, and whether it needs the label column. */
const EVALUATOR_COLUMNS: Record<EvaluatorConfig['type'], { texts: number; label: boolean; what: string }> = {
  sts: { texts: 2, label: true, what: 'sentence1, sentence2 and a score' },
  binary: { texts: 2, label: true, what: 'sentence1, sentence2 and a 0/1 label' },
  paraphrase_mining: { texts: 2, label: true, what: 'sentence1, sentence2 and a 0/1 label (1 = duplicates)' },
  retrieval: { texts: 2, label: false, what: 'a query and a relevant document' },
  triplet: { texts: 3, label: false, what: 'anchor, positive and negative' },
};

export function evaluatorColumns(type: EvaluatorConfig['type']): { texts: number; label: boolean; what: string } {
  return EVALUATOR_COLUMNS[type];
}

/** Names unique and usable in metric keys, list-only restrictions; push `path: message` problems. */
export function checkListRules(r: Recipe, problems: string[]): void {
  if (isMultiDataset(r)) {
    if (r.task !== 'embedding') problems.push(`data.train: a list of datasets trains the embedding task only, not task '${r.task}'; give one file`);
    if (r.data.validation_split > 0) problems.push('data.validation_split: with a list in data.train, give data.dev (which dataset to split is not clear)');
    checkNames(r.data.train.map((d) => d.name), 'data.train', problems);
  }
  const evs = r.evaluation.evaluators;
  checkNames(evs.map((e) => e.name), 'evaluation.evaluators', problems);
  for (const [i, e] of evs.entries()) {
    const want = EVALUATOR_COLUMNS[e.type];
    const given = e.columns.texts.length;
    if (given !== want.texts) problems.push(`evaluation.evaluators[${i}].columns.texts: a ${e.type} evaluator reads ${want.what}; the mapping gives ${given} text column${given === 1 ? '' : 's'}`);
    if (want.label && e.columns.label === null) problems.push(`evaluation.evaluators[${i}].columns.label: a ${e.type} evaluator reads ${want.what}; the mapping has no label column`);
  }
  if (r.task === 'embedding' && evs.length > 0) checkMonitor(r, problems);
}

function checkNames(names: string[], path: string, problems: string[]): void {
  for (const [i, n] of names.entries()) {
    if (!NAME.test(n)) problems.push(`${path}[${i}].name: '${n}' must be letters, digits, '_', '.' or '-' (it goes into metric names); set name`);
    const j = names.indexOf(n);
    if (j < i) problems.push(`${path}[${i}].name: '${n}' is also the name of ${path}[${j}]; give each its own name`);
  }
}

/** With evaluators, the monitor must be a metric some evaluation reports: one line listing them. */
function checkMonitor(r: Recipe, problems: string[]): void {
  const hasDev = r.data.dev !== null || r.data.validation_split > 0;
  const devKeys = hasDev ? ['dev_loss', ...EVALUATOR_METRICS.sts] : [];
  const valid = [...devKeys, ...r.evaluation.evaluators.flatMap(evaluatorMetricKeys)];
  if (!valid.includes(r.evaluation.monitor)) {
    problems.push(`evaluation.monitor: '${r.evaluation.monitor}' is reported by no evaluation; valid: ${valid.join(', ')}`);
  }
}
