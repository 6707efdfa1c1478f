/**
 * Recipes: the YAML that describes one training run. Validated once, here, at the edge:
 * schema (types, ranges, unknown keys), then defaults, then cross-field rules; every problem is
 * reported at once with its dotted path in a ConfigError. Everything downstream takes the
 * typed, fully resolved `Recipe`.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { ConfigError } from '../errors.js';
import { expandHome, localModelPath, looksLikePath } from '../models/hub.js';
import { RECIPE_SCHEMA } from './schema.js';
import { validateValue } from './validate.js';
import { checkRules, lossRequirements } from './rules.js';
import { evaluatorPrimaryKey, resolveLists, trainDatasets } from './datasets.js';
import { CLASSIFICATION_MONITOR, resolveClassification } from './classification.js';
import type { Recipe } from './types.js';

export type { Recipe, LossName, Column, Task } from './types.js';
export { RECIPE_SCHEMA, LOSS_NAMES, TASKS } from './schema.js';
export { lossRequirements } from './rules.js';
export { trainDatasets, isMultiDataset, singleTrainFile, evaluatorMetricKeys, evaluatorPrimaryKey } from './datasets.js';
export type { TrainDataset, EvaluatorConfig } from './types.js';
export { nearest, editDistance } from './validate.js';

export interface ParseOptions {
  /** Folder that relative paths in the recipe resolve against (the recipe's own folder). */
  baseDir: string;
  /** Used for the default name and in messages. */
  fileName?: string;
  /** Folder that the default output dir (runs/<name>) resolves against; default process.cwd(). */
  cwd?: string;
  /** The recipe file itself, when there is one: the run must not write over it. */
  recipePath?: string;
}

/** Read, validate and resolve a recipe file. Throws ConfigError listing every problem. */
export function loadRecipe(file: string, opts: { cwd?: string } = {}): Recipe {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError(`recipe not found: ${file}`);
  if (statSync(path).isDirectory()) throw new ConfigError(`${file}: is a folder; give the recipe's .yaml file`);
  const text = readFileSync(path, 'utf8');
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line;
    const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`${file}${line ? `:${line}` : ''}: invalid YAML: ${msg}`);
  }
  let raw: unknown;
  try {
    // maxAliasCount bounds what aliases may expand to: a "billion laughs" recipe is refused, not expanded.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(`${file}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseRecipe(raw, { baseDir: dirname(path), fileName: basename(path), cwd: opts.cwd, recipePath: path });
}

/** Validate and resolve an already-parsed recipe object. */
export function parseRecipe(raw: unknown, opts: ParseOptions): Recipe {
  const problems: string[] = [];
  const where = opts.fileName ?? 'recipe';
  if (raw === null || raw === undefined) throw new ConfigError(`${where}: the recipe is empty (it needs at least model.base and data.train)`);
  const value = validateValue(raw, RECIPE_SCHEMA, '', problems) as Recipe;
  if (problems.length > 0) throw configError(where, problems);
  const recipe = resolveRecipe(value, opts);
  checkRules(recipe, problems, opts.recipePath);
  if (problems.length > 0) throw configError(where, problems);
  return recipe;
}

function configError(where: string, problems: string[]): ConfigError {
  const n = problems.length;
  return new ConfigError(`${where}: ${n} problem${n > 1 ? 's' : ''}: ${problems.join('; ')}`, problems);
}

/** Fill the defaults that depend on other fields and make every path absolute. */
function resolveRecipe(r: Recipe, opts: ParseOptions): Recipe {
  const out = structuredClone(r);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(opts.baseDir, p));
  out.name = r.name ?? (opts.fileName ? basename(opts.fileName, extname(opts.fileName)) : 'run');
  if (typeof r.data.train === 'string') out.data.train = abs(r.data.train);
  out.data.dev = r.data.dev === null ? null : abs(r.data.dev);
  out.data.test = r.data.test === null ? null : abs(r.data.test);
  out.model.base = resolveModelBase(r.model.base, opts.baseDir);
  if (r.distill.teacher !== null) out.distill.teacher = resolveModelBase(r.distill.teacher, opts.baseDir);
  const req = lossRequirements(r.loss.name);
  out.optimizer.weight_decay = r.optimizer.weight_decay ?? (r.optimizer.name === 'adamw' ? 0.01 : 0);
  resolveLists(out, abs); // data.train as a list, evaluation.evaluators
  // With several datasets, one with in-batch negatives is enough to keep duplicates apart (in every dataset's batches).
  out.training.no_duplicates = (r.training.no_duplicates as boolean | null) ?? trainDatasets(out).some((d) => lossRequirements(d.loss.name).inBatchNegatives);
  // A distilled student is watched by its distance to the teacher (MSE on the dev texts).
  out.evaluation.monitor = (r.evaluation.monitor as string | null) ?? (r.task === 'mlm' ? 'perplexity' : r.task === 'distill' ? 'dev_loss' : req.needsLabel ? 'spearman_cosine' : 'dev_loss');
  if (r.task === 'classification') out.evaluation.monitor = (r.evaluation.monitor as string | null) ?? CLASSIFICATION_MONITOR;
  resolveClassification(out);
  // No dev set but extra evaluators: watch the first one's primary metric.
  if (r.evaluation.monitor === null && r.task === 'embedding' && out.data.dev === null && r.data.validation_split === 0 && out.evaluation.evaluators.length > 0) {
    out.evaluation.monitor = evaluatorPrimaryKey(out.evaluation.evaluators[0]);
  }
  out.evaluation.mode = (r.evaluation.mode as 'max' | 'min' | null) ?? (/(loss|perplexity)$/.test(out.evaluation.monitor) ? 'min' : 'max');
  out.output.dir = r.output.dir === null ? resolve(opts.cwd ?? process.cwd(), 'runs', out.name) : abs(r.output.dir);
  out.output.model_dir = r.output.model_dir === null ? resolve(out.output.dir, 'model') : abs(r.output.model_dir);
  return out;
}

/**
 * `builtin:NAME` stays as is. A path (./ ../ / ~, or more than one slash) and anything that
 * exists beside the recipe become absolute paths against the recipe's folder (`~` the home
 * folder): an existing folder always wins over a hub id of the same name, and a missing path
 * is reported by the rules ("model.base: folder not found"), never sent to the hub. Anything
 * else is a hub id (owner/name).
 */
function resolveModelBase(base: string, baseDir: string): string {
  if (base.startsWith('builtin:')) return base;
  return looksLikePath(base) ? resolve(baseDir, expandHome(base)) : (localModelPath(base, baseDir) ?? base);
}

/** The resolved recipe as YAML, written into the run folder and every checkpoint. */
export function recipeToYaml(r: Recipe): string {
  return `# fully resolved recipe (every default applied, paths absolute)\n${stringify(r)}`;
}

/** Parse a resolved recipe written by `recipeToYaml` (it is valid input as is). */
export function recipeFromYaml(text: string, baseDir: string): Recipe {
  const doc = parseDocument(text);
  return parseRecipe(doc.toJS(), { baseDir });
}
