/**
 * Cross-field rules, run after the schema walk on a recipe whose fields each passed their own
 * check: things no single field can know (a loss that needs a third text column the data
 * mapping does not give, early stopping without a dev set, ...).
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { createLoss } from '../losses/index.js';
import type { LossName, Recipe } from './types.js';
import { checkTaskRules } from './task-rules.js';
import { checkListRules, evaluatorMetricKeys, isMultiDataset } from './datasets.js';
import { checkStrayClassification } from './classification.js';
import { checkMatryoshkaAndPrompts } from './embedding-rules.js';
import { checkLora } from './lora-rules.js';

/**
 * What each loss needs from a batch and which recipe parameters it reads, taken from the Loss
 * objects themselves (src/losses) so the two can never disagree. `inBatchNegatives` marks
 * losses for which a duplicate text in a batch is a false negative; `minBatch` the fewest
 * examples a batch may hold.
 */
export function lossRequirements(name: LossName): { minTexts: number; maxTexts: number; needsLabel: boolean; params: string[]; inBatchNegatives: boolean; minBatch: number } {
  const l = createLoss(name);
  return {
    minTexts: l.columns,
    maxTexts: l.maxColumns,
    needsLabel: l.needsLabel,
    params: Object.keys(l.params).filter((k) => k === 'margin' || k === 'scale' || k === 'distance'),
    inBatchNegatives: name === 'multiple_negatives_ranking' || name === 'multiple_negatives_symmetric_ranking',
    minBatch: l.minBatch,
  };
}

/** Check the fields against each other; push `dotted.path: message` problems. */
/** `recipeFile`: the recipe's own path, when it came from a file (an input the run must not overwrite either). */
export function checkRules(r: Recipe, problems: string[], recipeFile?: string): void {
  const req = lossRequirements(r.loss.name);
  // The loss (and what it asks of the data) is the embedding task's; the other tasks check their own keys.
  if (r.task === 'embedding') checkLoss(r, req, problems);
  else checkTaskRules(r, problems);
  checkStrayClassification(r, problems);
  checkMiniBatch(r, problems);
  checkMatryoshkaAndPrompts(r, problems);
  checkLora(r, problems);
  checkCommon(r, req, problems);
  checkOutputPaths(r, problems, recipeFile);
}

/** The loss against the column mapping: data.* with loss.*, and each dataset of a data.train list with its own. */
function checkLoss(r: Recipe, req: ReturnType<typeof lossRequirements>, problems: string[]): void {
  checkLossOf(r, r.data.columns, r.loss, req, '', problems);
  if (isMultiDataset(r)) for (const [i, d] of r.data.train.entries()) checkLossOf(r, d.columns, d.loss, lossRequirements(d.loss.name), `data.train[${i}].`, problems);
}

/** `prefix` '' for the top-level keys (data.columns, loss.*), `data.train[i].` for a dataset of the list. */
function checkLossOf(r: Recipe, columns: Recipe['data']['columns'], loss: Recipe['loss'], req: ReturnType<typeof lossRequirements>, prefix: string, problems: string[]): void {
  const cols = prefix ? `${prefix}columns` : 'data.columns';
  const nTexts = columns.texts.length;
  if (nTexts < req.minTexts || nTexts > req.maxTexts) {
    const want = req.minTexts === req.maxTexts ? `${req.minTexts}` : `${req.minTexts} to ${req.maxTexts}`;
    problems.push(`${cols}.texts: loss '${loss.name}' needs ${want} text columns, the mapping gives ${nTexts}`);
  }
  if (req.needsLabel && columns.label === null) {
    problems.push(`${cols}.label: loss '${loss.name}' needs a label column, the mapping has none`);
  }
  for (const [path, size] of [['training.batch_size', r.training.batch_size], ['evaluation.batch_size', r.evaluation.batch_size]] as const) {
    if (size < req.minBatch) problems.push(`${path}: loss '${loss.name}' needs batches of at least ${req.minBatch} (in-batch negatives), got ${size}`);
  }
  for (const p of ['margin', 'scale', 'distance'] as const) {
    if (loss[p] !== null && !req.params.includes(p)) {
      problems.push(`${prefix}loss.${p}: not used by loss '${loss.name}'${req.params.length ? ` (it takes ${req.params.join(', ')})` : ' (it takes no parameters)'}`);
    }
  }
}

/**
 * training.mini_batch_size (GradCache, src/training/cached-step.ts): any loss of the embeddings
 * may use it (the gradients are the same), but only the embedding task's trainer has it, and a
 * mini-batch above the batch would bound nothing (likely the two numbers swapped).
 */
function checkMiniBatch(r: Recipe, problems: string[]): void {
  const m = r.training.mini_batch_size;
  if (m === null || m === undefined) return;
  if (r.task !== 'embedding') problems.push(`training.mini_batch_size: only the embedding task embeds in mini-batches, not task '${r.task}'`);
  else if (m > r.training.batch_size) problems.push(`training.mini_batch_size: ${m} is more than training.batch_size (${r.training.batch_size}); it bounds the rows embedded at once, so it must be at most the batch`);
}

/** Rules every task shares: the column mapping, the data files, the dev set, the schedule, the monitor. */
function checkCommon(r: Recipe, req: ReturnType<typeof lossRequirements>, problems: string[]): void {
  checkColumns(r.data, 'data.', problems);
  if (isMultiDataset(r)) for (const [i, d] of r.data.train.entries()) checkColumns(d, `data.train[${i}].`, problems);
  for (const [key, f, format, formatKey] of dataFiles(r)) {
    // task mlm also reads plain text, one text a line.
    const ext = r.task === 'mlm' ? /\.(csv|tsv|tab|jsonl|ndjson|json|txt)$/i : /\.(csv|tsv|tab|jsonl|ndjson|json)$/i;
    if (format === null && !ext.test(f)) problems.push(`${key}: must be a .csv, .tsv or .jsonl file${r.task === 'mlm' ? ' (or a .txt file, one text a line)' : ''} (or set ${formatKey}), got ${f}`);
    else if (!existsSync(f)) problems.push(`${key}: file not found: ${f}`);
    else if (!statSync(f).isFile()) problems.push(`${key}: not a file: ${f}`);
  }
  if (r.data.dev !== null && r.data.validation_split > 0) {
    problems.push('data.validation_split: give either data.dev or validation_split, not both');
  }
  const hasDev = r.data.dev !== null || r.data.validation_split > 0;
  checkListRules(r, problems);
  if (!hasDev && r.evaluation.evaluators.length === 0) {
    if (r.evaluation.every_steps !== null) problems.push('evaluation.every_steps: needs a dev set (data.dev or data.validation_split)');
    if (r.evaluation.early_stopping.patience !== null) problems.push('evaluation.early_stopping.patience: needs a dev set (data.dev or data.validation_split)');
  }
  if (r.schedule.warmup_ratio !== null && r.schedule.warmup_steps > 0) {
    problems.push('schedule.warmup_ratio: give either warmup_steps or warmup_ratio, not both');
  }
  if (r.training.max_steps !== null && r.schedule.warmup_steps > r.training.max_steps) {
    problems.push(`schedule.warmup_steps: ${r.schedule.warmup_steps} is more than training.max_steps (${r.training.max_steps})`);
  }
  if (r.model.base.startsWith('/') && !existsSync(r.model.base)) problems.push(`model.base: folder not found: ${r.model.base}`);
  const monitorIsLoss = /loss$/.test(r.evaluation.monitor);
  if (monitorIsLoss && r.evaluation.monitor !== 'dev_loss') {
    problems.push(`evaluation.monitor: the only loss metric is 'dev_loss', got '${r.evaluation.monitor}'`);
  }
  const byEvaluator = r.evaluation.evaluators.some((e) => evaluatorMetricKeys(e).includes(r.evaluation.monitor));
  if (r.task === 'embedding' && !monitorIsLoss && hasDev && !req.needsLabel && !byEvaluator) {
    problems.push(`evaluation.monitor: '${r.evaluation.monitor}' needs a scored dev set; loss '${r.loss.name}' has no labels, monitor dev_loss instead`);
  }
}

/** A column mapping with its header and score scale (`prefix` `data.` or `data.train[i].`). */
function checkColumns(d: Pick<Recipe['data'], 'columns' | 'header' | 'score_scale'>, prefix: string, problems: string[]): void {
  const cols = [...d.columns.texts, ...(d.columns.label === null ? [] : [d.columns.label])];
  const byName = cols.filter((c) => typeof c === 'string').length;
  if (byName > 0 && byName < cols.length) {
    problems.push(`${prefix}columns: give every column by name or every column by index, not a mix`);
  }
  if (new Set(cols.map(String)).size !== cols.length) problems.push(`${prefix}columns: the same column is mapped twice`);
  if (d.header === false && byName > 0) {
    problems.push(`${prefix}header: false needs columns given by 0-based index (there is no header to look names up in)`);
  }
  if (d.score_scale) {
    if (d.columns.label === null) problems.push(`${prefix}score_scale: given but the mapping has no label column`);
    if (!(d.score_scale[0] < d.score_scale[1])) problems.push(`${prefix}score_scale: low must be below high, got [${d.score_scale.join(', ')}]`);
  }
}

/**
 * Every data file the run reads, as [recipe key, path, format, key of that format]: data.train
 * (or each dataset of its list), dev, test, the evaluators' files.
 */
function dataFiles(r: Recipe): Array<[string, string, Recipe['data']['format'], string]> {
  const out: Array<[string, string, Recipe['data']['format'], string]> = [];
  if (isMultiDataset(r)) for (const [i, d] of r.data.train.entries()) out.push([`data.train[${i}].file`, d.file, d.format, `data.train[${i}].format`]);
  else out.push(['data.train', r.data.train as string, r.data.format, 'data.format']);
  for (const k of ['dev', 'test'] as const) if (r.data[k] !== null) out.push([`data.${k}`, r.data[k]!, r.data.format, 'data.format']);
  for (const [i, e] of r.evaluation.evaluators.entries()) out.push([`evaluation.evaluators[${i}].file`, e.file, e.format, `evaluation.evaluators[${i}].format`]);
  return out;
}

/** What a run writes at the top of output.dir besides the model (src/training/run-folder.ts knows the same names). */
const RUN_ENTRIES = ['checkpoints', 'tensorboard', 'recipe.yaml', 'metrics.jsonl', 'report.json', 'report.md', 'report.html'];

/**
 * Where the run writes, against what it reads. The run fills output.dir (and with
 * output.overwrite replaces it) and replaces output.model_dir with the tuned model, so neither
 * may be `/`, the home folder or a file, nor hold an input of the run (a data file, the
 * model.base folder); the model folder may not be the run folder, hold it, or take the place
 * of something the run writes there. What the folders hold now (a previous run, someone
 * else's files) is checked when training starts (src/training/run-folder.ts).
 */
function checkOutputPaths(r: Recipe, problems: string[], recipeFile?: string): void {
  const inputs: Array<[string, string]> = [];
  if (recipeFile !== undefined) inputs.push(['the recipe', recipeFile]);
  for (const [key, f] of dataFiles(r)) inputs.push([key, f]);
  if (isAbsolute(r.model.base)) inputs.push(['model.base', r.model.base]);
  const home = canonical(homedir());
  for (const [key, path] of [['output.dir', r.output.dir], ['output.model_dir', r.output.model_dir]] as const) {
    const file = fileOnPath(path);
    if (file !== null) {
      problems.push(file === path ? `${key}: ${path} is a file, not a folder` : `${key}: ${file} is a file, so ${path} cannot be a folder`);
      continue;
    }
    const real = canonical(path);
    if (real === sep) problems.push(`${key}: ${path} is the root of the file system`);
    else if (real === home) problems.push(`${key}: ${path} is the home folder`);
    for (const [k, f] of inputs) {
      if (isWithin(canonical(f), real)) problems.push(`${key}: ${path} holds ${k} (${f}); the run writes there, keep its inputs elsewhere`);
    }
  }
  const out = canonical(r.output.dir);
  const model = canonical(r.output.model_dir);
  if (out === model) {
    problems.push(`output.model_dir: ${r.output.model_dir} is output.dir itself; saving the model there would replace the run (leave it null for <output.dir>/model)`);
  } else if (isWithin(out, model)) {
    problems.push(`output.model_dir: ${r.output.model_dir} holds output.dir (${r.output.dir}); saving the model there would replace the run`);
  } else if (isWithin(model, out)) {
    const first = relative(out, model).split(sep)[0];
    if (RUN_ENTRIES.includes(first)) problems.push(`output.model_dir: ${r.output.model_dir} is the run's own ${first}; choose another folder (null = <output.dir>/model)`);
  }
}

/** `child` is `parent` or lies inside it. */
function isWithin(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel.split(sep)[0] !== '..' && !isAbsolute(rel));
}

/** The path with symbolic links resolved as far as it exists, so two names of one folder compare equal. */
function canonical(path: string): string {
  let head = path;
  const tail: string[] = [];
  while (!existsSync(head) && dirname(head) !== head) {
    tail.unshift(basename(head));
    head = dirname(head);
  }
  try {
    return join(realpathSync(head), ...tail);
  } catch {
    return path;
  }
}

/** The path itself or the nearest existing folder above it, when that is a file; else null. */
function fileOnPath(path: string): string | null {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return existsSync(p) && !statSync(p).isDirectory() ? p : null;
}
