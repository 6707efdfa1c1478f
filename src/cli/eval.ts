/**
 * `sbert-train eval`: STS benchmark numbers for one or more models side by side (base vs
 * tuned), as sentence-transformers' EmbeddingSimilarityEvaluator reports them; optionally
 * pair classification (--pairs) and retrieval (--retrieval) too; report.json / report.md /
 * report.html in --out.
 *
 *   sbert-train eval --model builtin:tiny --model runs/job-titles/final --sts stsb --split test
 */
import { basename } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend/index.js';
import { loadSts, readLabelledPairs, type ColumnMapping, type StsSplit } from '../data/sts.js';
import { isUserError, ModelError, UserError } from '../errors.js';
import { evaluateBinary, evaluateRetrieval, evaluateSts, readBeirFolder, writeReport, type EvaluationResult, type ModelResults, type ScatterData } from '../evaluation/index.js';
import { loadEncoder, type Encoder } from '../models/index.js';
import { axisLabels } from '../viz/labels.js';

interface EvalArgs {
  model: string[];
  sts?: string;
  pairs?: string;
  retrieval?: string;
  split: StsSplit;
  columns?: string;
  out: string;
  'batch-size': number;
  limit?: number;
  json: boolean;
  backend: string;
}

/** One evaluation to run on every model. */
interface Task {
  name: string;
  describe: string;
  run(encoder: Encoder, batchSize: number): Promise<{ result: EvaluationResult; scatter?: { gold: number[]; predicted: number[] } }>;
}

function basenameNoExt(path: string): string {
  return basename(path.replace(/[/\\]+$/, '')).replace(/\.[^.]+$/, '');
}

/** Read every dataset up front, so a bad file fails before any model is loaded. */
function tasksFrom(argv: EvalArgs): Task[] {
  const tasks: Task[] = [];
  const columns = parseColumns(argv.columns);
  const cut = <T>(xs: T[]) => (argv.limit ? xs.slice(0, argv.limit) : xs);
  if (argv.sts) {
    const data = loadSts(argv.sts, argv.split, columns);
    const pairs = cut(data.pairs);
    if (pairs.length < 2) throw new UserError(`${data.path}: need at least 2 pairs to compute correlations, found ${pairs.length}`);
    tasks.push({
      name: data.name,
      describe: `${data.name}: ${pairs.length} scored pairs (${data.path})`,
      run: async (enc, batchSize) => {
        const { gold, cosine, ...result } = await evaluateSts(enc, pairs, { batchSize, name: data.name });
        return { result, scatter: { gold, predicted: cosine } };
      },
    });
  }
  if (argv.pairs) {
    const pairs = cut(readLabelledPairs(argv.pairs, columns));
    if (!pairs.some((p) => p.label === 1) || !pairs.some((p) => p.label === 0)) throw new UserError(`${argv.pairs}: pair classification needs both labels 0 and 1`);
    const name = basenameNoExt(argv.pairs);
    tasks.push({
      name,
      describe: `${name}: ${pairs.length} labelled pairs (${argv.pairs})`,
      run: async (enc, batchSize) => ({ result: await evaluateBinary(enc, pairs, { batchSize, name }) }),
    });
  }
  if (argv.retrieval) {
    const data = readBeirFolder(argv.retrieval, argv.split);
    const name = basenameNoExt(argv.retrieval);
    tasks.push({
      name,
      describe: `${name}: ${Object.keys(data.relevant).length} queries, ${Object.keys(data.corpus).length} documents (${argv.retrieval})`,
      run: async (enc, batchSize) => ({ result: await evaluateRetrieval(enc, data, { batchSize, name }) }),
    });
  }
  if (tasks.length === 0) throw new UserError('eval: nothing to evaluate: give --sts FILE|stsb|jsts, --pairs FILE or --retrieval DIR');
  return tasks;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'evaluate models on STS, labelled-pair or retrieval data and write reports (json, md, html)',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'model folder, hub id or builtin:NAME; repeat to compare' })
      .option('sts', { type: 'string', describe: "scored pairs (csv / tsv / jsonl), or 'stsb' / 'jsts' from ../shared/datasets" })
      .option('pairs', { type: 'string', describe: 'pairs labelled 0/1 (sentence1, sentence2, label) for pair classification' })
      .option('retrieval', { type: 'string', describe: 'BEIR-style folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv' })
      .option('split', { type: 'string', choices: ['train', 'dev', 'test'], default: 'test', describe: 'split of stsb / jsts (jsts: dev and test both use valid-v1.3.json) and of --retrieval qrels' })
      .option('columns', { type: 'string', describe: 'csv / tsv / jsonl column names: sentence1,sentence2,score (or label)' })
      .option('out', { type: 'string', default: 'eval-report', describe: 'folder for report.json, report.md and report.html' })
      .option('batch-size', { type: 'number', default: 32, describe: 'sentences per forward pass' })
      .option('limit', { type: 'number', describe: 'use only the first N pairs (quick checks)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the metrics as JSON on stdout' }) as unknown as Argv<EvalArgs>,
  handler: async (argv) => {
    if (!(argv['batch-size'] >= 1)) throw new UserError(`--batch-size must be a positive integer, got ${argv['batch-size']}`);
    if (argv.limit !== undefined && !(argv.limit >= 2)) throw new UserError(`--limit must be at least 2, got ${argv.limit}`);
    const tasks = tasksFrom(argv);
    await initBackend(argv.backend);

    const labels = uniqueNames(argv.model);
    const models: ModelResults[] = [];
    const scatter: ScatterData[] = [];
    for (const [i, spec] of argv.model.entries()) {
      const encoder = await loadModelOrExplain(spec);
      try {
        const results: EvaluationResult[] = [];
        for (const t of tasks) {
          const r = await t.run(encoder, argv['batch-size']);
          results.push(r.result);
          if (r.scatter) scatter.push({ ...r.scatter, label: tasks.length > 1 ? `${labels[i]} / ${t.name}` : labels[i] });
        }
        models.push({ model: labels[i], results });
      } finally {
        encoder.dispose();
      }
    }

    const paths = await writeReport(argv.out, {
      title: `Evaluation: ${tasks.map((t) => t.name).join(', ')}`,
      models,
      scatter: scatter.length ? scatter : undefined,
      meta: Object.fromEntries(tasks.map((t) => [t.name, t.describe.slice(t.name.length + 2)])),
    });

    if (argv.json) {
      process.stdout.write(`${JSON.stringify(Object.fromEntries(models.map((m) => [m.model, Object.assign({}, ...m.results.map((r) => r.metrics))])), null, 2)}\n`);
      return;
    }
    // one line per model, one column per evaluation's primary metric
    const primaries = models[0].results.map((r) => r.primaryMetric);
    const width = Math.max(5, ...labels.map((l) => l.length));
    for (const t of tasks) process.stdout.write(`${t.describe}\n`);
    process.stdout.write(`${'model'.padEnd(width)}  ${primaries.join('  ')}\n`);
    for (const m of models) {
      const cells = m.results.map((r, j) => fmtMetric(r.metrics[r.primaryMetric]).padStart(primaries[j].length));
      process.stdout.write(`${m.model.padEnd(width)}  ${cells.join('  ')}\n`);
    }
    process.stdout.write(`report: ${paths.md} ${paths.html}\n`);
  },
};

function fmtMetric(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(4);
}

/**
 * Load a model for a command. Its own errors (ModelError etc.) pass through; file-system and
 * JSON errors from a broken folder become a one-line ModelError naming the model. Anything
 * else is a bug in the loader and keeps its stack trace.
 */
export async function loadModelOrExplain(spec: string): Promise<Encoder> {
  try {
    return await loadEncoder(spec);
  } catch (e) {
    if (isUserError(e)) throw e;
    const io = e instanceof SyntaxError || typeof (e as NodeJS.ErrnoException)?.code === 'string';
    if (!io) throw e;
    const msg = ((e as Error).message ?? String(e)).split('\n')[0];
    throw new ModelError(`cannot load model '${spec}': ${msg}`);
  }
}

/** Display names for --model values, unique even when the same model is given twice. */
export function uniqueNames(specs: readonly string[]): string[] {
  return axisLabels(specs, 80);
}

/** `--columns s1,s2,score` -> mapping for generic csv / tsv / jsonl files. */
export function parseColumns(spec: string | undefined): Partial<ColumnMapping> {
  if (!spec) return {};
  const parts = spec.split(',').map((s) => s.trim());
  if (parts.length !== 3 || parts.some((p) => !p)) throw new UserError(`--columns: expected three comma-separated column names (sentence1,sentence2,score), got '${spec}'`);
  return { sentence1: parts[0], sentence2: parts[1], score: parts[2] };
}
