/**
 * The run folder and the model folder: what a run may write over, and how.
 *
 * A run writes into two folders the user names: `output.dir` (recipe.yaml, metrics.jsonl,
 * checkpoints/, tensorboard/, report.*) and `output.model_dir` (the tuned model, `<output.dir>/model` by
 * default). Either may already hold something. The rules:
 *
 * - sbert-train only ever replaces what it wrote itself. A run folder is recognised by what the
 *   trainer writes (recipe.yaml with metrics.jsonl and/or checkpoints/, and nothing else); a
 *   model folder by the marker our save writes (see `isSavedModel`), and nothing else beside
 *   the files a save writes. Anything else in the folder makes it someone else's.
 * - A fresh run starts in a missing or empty folder. A folder that holds a run is continued
 *   with --resume (from the beginning when the run stopped before its first checkpoint), or
 *   replaced when `output.overwrite` is true. The model folder may be replaced only when it is
 *   a model we saved and overwrite allows it; the default one inside the run folder is part of
 *   the run and goes with it.
 * - Replacing can be undone until the new run has proved itself: the previous run is renamed
 *   to a hidden sibling, deleted only once the new run has written its first checkpoint, and
 *   put back when the new run fails before that.
 * - Every refusal is a one-line UserError (exit 2) naming the path and what is wrong, raised
 *   before training starts: `planRunFolder` only reads the disk; `openRunFolder` acts on its
 *   plan once the data and the model have loaded.
 *
 * How the two folders relate to each other and to the run's inputs (a data file inside the
 * output folder, the model folder holding the run folder, `/` or the home folder...) does not
 * depend on what is on disk: those are recipe rules (src/recipe/rules.ts `checkOutputPaths`).
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { UserError } from '../errors.js';
import { TOKENIZER_FILES } from '../models/tokenizer.js';
import type { Recipe } from '../recipe/index.js';
import { fsyncDir } from '../util/fs.js';
import { latestCheckpoint } from './checkpoint.js';
import { EVENT_FILE } from './tensorboard.js';

/** How a run starts in its output folder. */
export type RunStart =
  /** A missing or empty folder: a fresh run. */
  | 'new'
  /** --resume: continue from the newest complete checkpoint. */
  | 'resume'
  /** --resume on a run that has no complete checkpoint: start over, in place. */
  | 'restart'
  /** output.overwrite over a previous run: set it aside, start fresh. */
  | 'replace';

export interface RunPlan {
  start: RunStart;
  /** Lines for stderr: how the run starts when that is not what was asked, leftovers found. */
  notes: string[];
}

/** Top-level files the trainer (and src/evaluation/report.ts) writes into a run folder; folders: checkpoints/, tensorboard/ (event files), model/. */
const RUN_FILES = new Set(['recipe.yaml', 'metrics.jsonl', 'report.json', 'report.md', 'report.html', 'setfit-pairs.csv']);
/** Temp and set-aside names that writeFileAtomic, checkpoints and model saves leave after a crash. */
const LEFTOVER = /^\..+\.(tmp|old)$/;
/** What checkpoint.ts writes under checkpoints/. */
const CHECKPOINT_ENTRY = /^(step-\d{8}|\.tmp-.+|\.trash-.+)$/;
/** Files and module folders SentenceEncoder.save writes (src/models/sentence-encoder.ts writeFolder). */
const MODEL_FILES = new Set(['config.json', 'model.safetensors', 'modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json', 'README.md', ...TOKENIZER_FILES]);
const MODEL_MODULE = /^\d+_(Pooling|Dense|Normalize)$/;
/** The hidden sibling a replaced run is set aside to: `.<name>.previous-run-<hex>`. */
const SET_ASIDE = (name: string) => new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.previous-run-[0-9a-f]+$`);

/**
 * True when `dir` holds a model folder sbert-train saved: its config_sentence_transformers.json
 * names `sbert_train` in the `__version__` map. Why this marker: our save has always written it,
 * so every model this project saved is recognised; it sits in a file sentence-transformers
 * itself reads and ignores the extra key of; and Python's `SentenceTransformer.save` rewrites
 * `__version__` with its own versions, so a folder re-saved by another tool stops counting as
 * ours, which is the safe direction.
 */
export function isSavedModel(dir: string): boolean {
  try {
    const cfg = JSON.parse(readFileSync(join(dir, 'config_sentence_transformers.json'), 'utf8')) as { __version__?: Record<string, unknown> };
    return typeof cfg.__version__?.sbert_train === 'string';
  } catch {
    return false;
  }
}

/** Entries of a model folder that a save of ours does not write. */
function foreignInModel(dir: string): string[] {
  return entriesOf(dir).filter((e) => !MODEL_FILES.has(e.name) && !(e.dir && (MODEL_MODULE.test(e.name) || e.name === 'classifier')) && !LEFTOVER.test(e.name)).map(label);
}

interface Entry {
  name: string;
  dir: boolean;
}

function entriesOf(dir: string): Entry[] {
  return readdirSync(dir, { withFileTypes: true })
    .map((d) => ({ name: d.name, dir: d.isDirectory() }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const label = (e: Entry): string => (e.dir ? `${e.name}/` : e.name);

/** "a.txt, b/, c.csv and 4 more". */
function listing(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** What is in a would-be run folder. */
interface Survey {
  state: 'missing' | 'file' | 'empty' | 'run' | 'other';
  /** Entries the trainer did not write (with a trailing / for folders). */
  foreign: string[];
  /** Entries the trainer did write. */
  own: string[];
}

/**
 * A folder is a run when it holds recipe.yaml with metrics.jsonl and/or checkpoints/. Its
 * `model/` counts as the trainer's only when it is a model we saved, its `checkpoints/` only
 * when it holds nothing but checkpoint folders.
 */
function survey(dir: string): Survey {
  if (!existsSync(dir)) return { state: 'missing', foreign: [], own: [] };
  if (!statSync(dir).isDirectory()) return { state: 'file', foreign: [], own: [] };
  const entries = entriesOf(dir);
  if (entries.length === 0) return { state: 'empty', foreign: [], own: [] };
  const own: string[] = [];
  const foreign: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    const ours =
      (!e.dir && RUN_FILES.has(e.name)) ||
      LEFTOVER.test(e.name) ||
      (e.dir && e.name === 'checkpoints' && readdirSync(p).every((n) => CHECKPOINT_ENTRY.test(n))) ||
      (e.dir && e.name === 'tensorboard' && readdirSync(p).every((n) => EVENT_FILE.test(n) || LEFTOVER.test(n))) ||
      (e.dir && e.name === 'model' && (readdirSync(p).length === 0 || (isSavedModel(p) && foreignInModel(p).length === 0))) ||
      (e.dir && e.name === 'setfit' && survey(p).state === 'run'); // task classification's contrastive phase (src/training/classification.ts)
    (ours ? own : foreign).push(label(e));
  }
  const isRun = own.includes('recipe.yaml') && (own.includes('metrics.jsonl') || own.includes('checkpoints/'));
  // A run killed between its first writes holds only some of them (or only their temp files);
  // a folder holding just a model or reports was not started by a run here.
  const started = own.some((n) => n === 'recipe.yaml' || n === 'metrics.jsonl' || n === 'checkpoints/' || LEFTOVER.test(n.replace(/\/$/, '')));
  return { state: isRun || (foreign.length === 0 && started) ? 'run' : 'other', foreign, own };
}

/**
 * Decide how a run may start in `recipe.output.dir`, or throw a UserError saying why it may
 * not and what to do instead. Reads the disk, changes nothing.
 */
export function planRunFolder(recipe: Recipe, resume: boolean): RunPlan {
  const dir = recipe.output.dir;
  const s = survey(dir);
  const notes = leftovers(dir);
  const ckptRoot = join(dir, 'checkpoints');
  let start: RunStart;
  if (s.state === 'file') throw new UserError(`output.dir ${dir} is a file, not a folder; choose another output.dir`);
  if (s.state === 'other' || (s.state === 'run' && s.foreign.length > 0 && recipe.output.overwrite && !resume)) {
    throw new UserError(notOurs(dir, s, resume, recipe.output.overwrite));
  }
  if (resume) {
    if (s.state === 'missing' || s.state === 'empty') {
      notes.push(`--resume: no run in ${dir} yet; starting from the beginning`);
      start = 'new';
    } else if (latestCheckpoint(ckptRoot)) {
      start = 'resume';
    } else {
      notes.push(`--resume: no complete checkpoint in ${ckptRoot}; the run stopped before its first one, so it starts again from the beginning`);
      start = 'restart';
    }
  } else if (s.state === 'missing' || s.state === 'empty') {
    start = 'new';
  } else if (recipe.output.overwrite) {
    start = 'replace';
  } else {
    const last = latestCheckpoint(ckptRoot);
    throw new UserError(
      last
        ? `output folder ${dir} already holds a run; continue it with --resume (from step ${last.step}), set output.overwrite: true to replace it, or choose another output.dir`
        : `output folder ${dir} holds a run that stopped before its first checkpoint; start it again from the beginning with --resume, set output.overwrite: true to replace it, or choose another output.dir`,
    );
  }
  if (start === 'replace') checkReplaceable(dir);
  else checkWritable(dir);
  checkModelDir(recipe, start);
  return { start, notes };
}

/** The message for a folder that is not a run of ours, or holds other files beside one. */
function notOurs(dir: string, s: Survey, resume: boolean, overwrite: boolean): string {
  const project = s.foreign.filter((n) => n === 'package.json' || n === '.git/' || n === '.git');
  const what = project.length ? `; it looks like a project folder (${project.join(', ')})` : '';
  if (s.state === 'run') {
    return `output folder ${dir} holds a sbert-train run and other files (${listing(s.foreign)}${what}); output.overwrite only replaces what a run wrote: move them out or choose another output.dir`;
  }
  const why = resume ? '; --resume needs a run folder' : overwrite ? '; output.overwrite only replaces a previous run' : '';
  return `output folder ${dir} is not empty and is not a sbert-train run (it holds ${listing(s.foreign.length ? s.foreign : s.own)}${what})${why}; choose another output.dir`;
}

/** Runs set aside by an overwrite that was killed before the new run's first checkpoint. */
function leftovers(dir: string): string[] {
  const parent = dirname(dir);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) return [];
  const re = SET_ASIDE(basename(dir));
  return readdirSync(parent)
    .filter((n) => re.test(n))
    .map((n) => `note: ${join(parent, n)} holds a run that an interrupted output.overwrite set aside; move it back or delete it`);
}

/** The error code when the current user cannot create entries in `dir`, else null. */
function notWritable(dir: string): string | null {
  try {
    accessSync(dir, constants.W_OK);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'EACCES';
  }
}

const WHY: Record<string, string> = { EACCES: 'permission denied', EPERM: 'operation not permitted', EROFS: 'read-only file system' };
const why = (code: string) => `${WHY[code] ?? code} (${code})`;

/** The folder (or, when missing, the nearest folder above it) must take new files. */
function checkWritable(dir: string): void {
  let p = dir;
  while (!existsSync(p)) p = dirname(p);
  if (!statSync(p).isDirectory()) throw new UserError(`output.dir ${dir}: ${p} is a file, not a folder; choose another output.dir`);
  const code = notWritable(p);
  if (code === null) return;
  throw new UserError(
    p === dir
      ? `output.dir ${dir} is not writable: ${why(code)}; choose another output.dir or make it writable`
      : `output.dir ${dir} cannot be created: ${p} is not writable: ${why(code)}; choose another output.dir`,
  );
}

/** Setting a run aside renames it (its parent must be writable, and it must not be a mount point); deleting it later empties every folder in it. */
function checkReplaceable(dir: string): void {
  const parent = dirname(dir);
  if (statSync(dir).dev !== statSync(parent).dev) {
    throw new UserError(`output.dir ${dir} is a mount point, so the previous run in it cannot be set aside and replaced; use a folder inside it as output.dir`);
  }
  const code = notWritable(parent);
  if (code !== null) throw new UserError(`output.dir ${dir}: the previous run cannot be replaced: its parent folder ${parent} is not writable: ${why(code)}; choose another output.dir`);
  const walk = (d: string): void => {
    const c = notWritable(d);
    if (c !== null) throw new UserError(`output.dir ${dir}: the previous run cannot be replaced: ${d} is not writable: ${why(c)}; make it writable or choose another output.dir`);
    for (const e of entriesOf(d)) if (e.dir) walk(join(d, e.name));
  };
  walk(dir);
}

function isWithin(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel.split(sep)[0] !== '..' && !isAbsolute(rel));
}

/**
 * The model folder may be replaced only when it is a model we saved, with nothing else in it,
 * and overwrite allows it; inside the run folder it is part of the run, whose rule was applied.
 */
function checkModelDir(recipe: Recipe, start: RunStart): void {
  const dir = recipe.output.model_dir;
  const partOfRun = isWithin(dir, recipe.output.dir);
  if (partOfRun && start === 'replace') return; // set aside with the run
  const problem = modelDirProblem(dir);
  if (problem) throw new UserError(problem);
  if (!partOfRun && !recipe.output.overwrite && existsSync(dir) && readdirSync(dir).length > 0) {
    throw new UserError(`output.model_dir ${dir} already holds a model sbert-train saved; set output.overwrite: true to replace it, or choose another output.model_dir`);
  }
}

/** Why the tuned model may not be written to `dir` (whatever overwrite says), or null. */
function modelDirProblem(dir: string): string | null {
  if (!existsSync(dir)) return null;
  if (!statSync(dir).isDirectory()) return `output.model_dir ${dir} is a file, not a folder; choose another output.model_dir`;
  const names = entriesOf(dir).map(label);
  if (names.length === 0) return null;
  if (!isSavedModel(dir)) return `output.model_dir ${dir} is not empty and is not a model folder sbert-train saved (it holds ${listing(names)}); choose another output.model_dir`;
  const foreign = foreignInModel(dir);
  if (foreign.length) return `output.model_dir ${dir} holds a model sbert-train saved and other files (${listing(foreign)}); move them out or choose another output.model_dir`;
  return null;
}

/**
 * Checked again right before the model is written (training may have taken hours): the folder
 * must still be missing, empty or a model of ours. The run's checkpoints are kept either way.
 */
export function assertModelDirReplaceable(dir: string): void {
  const problem = modelDirProblem(dir);
  if (problem) throw new UserError(`${problem}; the model was not saved: move the files and continue with --resume`);
}

/**
 * Make the run folder ready as planned. For 'replace', the previous run is renamed to a hidden
 * sibling and returned: the caller deletes it (`discard`) once the new run has written its
 * first checkpoint, or puts it back (`putBack`) when the new run fails before that.
 */
export function openRunFolder(recipe: Recipe, plan: RunPlan, log: (line: string) => void): PreviousRun | null {
  const dir = recipe.output.dir;
  if (plan.start !== 'replace') {
    mkdirSync(dir, { recursive: true });
    return null;
  }
  const aside = join(dirname(dir), `.${basename(dir)}.previous-run-${randomBytes(4).toString('hex')}`);
  try {
    renameSync(dir, aside);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const reason = code === 'EBUSY' ? 'it is a mount point or in use; use a folder inside it as output.dir' : `${why(code)}; choose another output.dir`;
    throw new UserError(`output.dir ${dir}: cannot set the previous run aside to replace it: ${reason}`);
  }
  fsyncDir(dirname(dir));
  const previous = new PreviousRun(dir, aside);
  try {
    mkdirSync(dir);
  } catch (e) {
    previous.putBack(log);
    throw e;
  }
  log(`output.overwrite: the previous run in ${dir} is set aside as ${aside} until the new run writes its first checkpoint`);
  return previous;
}

/** A previous run set aside by an overwrite, until the new run has shown it works. */
export class PreviousRun {
  constructor(
    readonly dir: string,
    readonly aside: string,
  ) {}

  /** The new run has its first checkpoint: the previous run goes. Failing to delete it does not stop the run. */
  discard(log: (line: string) => void): void {
    try {
      rmSync(this.aside, { recursive: true, force: true });
    } catch (e) {
      log(`warning: could not delete the previous run set aside as ${this.aside}: ${(e as Error).message.split('\n')[0]}; delete it yourself`);
    }
  }

  /** The new run failed before its first checkpoint: remove what it wrote and put the previous run back. */
  putBack(log: (line: string) => void): void {
    try {
      rmSync(this.dir, { recursive: true, force: true });
      renameSync(this.aside, this.dir);
      fsyncDir(dirname(this.dir));
      log(`the new run stopped before its first checkpoint; the previous run is back in ${this.dir}`);
    } catch (e) {
      log(`warning: could not put the previous run back from ${this.aside} to ${this.dir}: ${(e as Error).message.split('\n')[0]}; move it back yourself`);
    }
  }
}
