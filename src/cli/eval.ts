/**
 * `sbert-train eval`: STS benchmark numbers for one or more models side by side (base vs
 * tuned), as sentence-transformers' EmbeddingSimilarityEvaluator reports them; optionally
 * pair classification (--pairs), retrieval (--retrieval), triplets (--triplets) and paraphrase
 * mining (--paraphrase) too; report.json / report.md /
 * report.html in --out.
 *
 *   sbert-train eval --model builtin:tiny --model runs/job-titles/final --sts stsb --split test
 */
import { basename } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend/index.js';
import { loadSts, readLabelledPairs, type ColumnMapping, type StsSplit } from '../data/sts.js';
import { isUserError, ModelError, UserError } from '../errors.js';
import { evaluateBinary, evaluateRetrieval, evaluateSts, fileEvaluator, readBeirFolder, writeReport, type EvaluationResult, type ModelResults, type ScatterData } from '../evaluation/index.js';
import { loadEncoder, type Encoder } from '../models/index.js';
import { checkTruncateDim } from '../models/prompts.js';
import { axisLabels } from '../viz/labels.js';
import { perDimSection } from '../evaluation/per-dim.js';

interface EvalArgs {
  model: string[];
  sts?: string;
  pairs?: string;
  retrieval?: string;
  triplets?: string;
  paraphrase?: string;
  split: StsSplit;
  columns?: string;
  out: string;
  'batch-size': number;
  limit?: number;
  json: boolean;
  dims?: string;
  backend: string;
}

/** --dims 256,128,64: Matryoshka sizes the STS evaluation also reports (`spearman_cosine@128`). */
function parseDims(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const dims = String(v).split(',').map((x) => x.trim());
  const bad = dims.find((x) => !/^[1-9]\d*$/.test(x));
  if (bad !== undefined) throw new UserError(`--dims must list whole numbers >= 1 separated by commas (e.g. 256,128,64), got '${v}'`);
  return [...new Set(dims.map(Number))];
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
  const dims = parseDims(argv.dims);
  if (dims && !argv.sts) throw new UserError('--dims applies to --sts evaluations');
  if (argv.sts) {
    const data = loadSts(argv.sts, argv.split, columns);
    const pairs = cut(data.pairs);
    if (pairs.length < 2) throw new UserError(`${data.path}: need at least 2 pairs to compute correlations, found ${pairs.length}`);
    tasks.push({
      name: data.name,
      describe: `${data.name}: ${pairs.length} scored pairs (${data.path})`,
      run: async (enc, batchSize) => {
        for (const d of dims ?? []) checkTruncateDim(d, enc.dim, '--dims', enc.source);
        const { gold, cosine, ...result } = await evaluateSts(enc, pairs, { batchSize, name: data.name, dims });
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
  // The recipe's evaluation.evaluators readers (src/evaluation/file-evaluators.ts), by fixed column names.
  for (const [flag, file, type, texts, label] of [
    ['--triplets', argv.triplets, 'triplet', ['anchor', 'positive', 'negative'], null],
    ['--paraphrase', argv.paraphrase, 'paraphrase_mining', [columns.sentence1 ?? 'sentence1', columns.sentence2 ?? 'sentence2'], columns.score ?? 'label'],
  ] as const) {
    if (!file) continue;
    const ev = fileEvaluator({ type, file, name: basenameNoExt(file), columns: { texts: [...texts], label }, where: flag });
    tasks.push({ name: ev.name, describe: ev.describe, run: async (enc, batchSize) => ({ result: await ev.run(enc, { batchSize }) }) });
  }
  if (tasks.length === 0) throw new UserError('eval: nothing to evaluate: give --sts FILE|stsb|jsts, --pairs FILE, --retrieval DIR, --triplets FILE or --paraphrase FILE');
  return tasks;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'evaluate models on STS, labelled-pair, retrieval, triplet or paraphrase-mining data and write reports (json, md, html)',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'model folder, hub id or builtin:NAME; repeat to compare' })
      .option('sts', { type: 'string', describe: "scored pairs (csv / tsv / jsonl), or 'stsb' / 'jsts' from ../shared/datasets" })
      .option('pairs', { type: 'string', describe: 'pairs labelled 0/1 (sentence1, sentence2, label) for pair classification' })
      .option('retrieval', { type: 'string', describe: 'BEIR-style folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv' })
      .option('triplets', { type: 'string', describe: 'triplets (columns anchor, positive, negative): accuracy of sim(a, p) > sim(a, n) per similarity' })
      .option('paraphrase', { type: 'string', describe: 'pairs labelled 1 = duplicates (sentence1, sentence2, label; or --columns): paraphrase mining over all their sentences, average precision and best F1' })
      .option('split', { type: 'string', choices: ['train', 'dev', 'test'], default: 'test', describe: 'split of stsb / jsts (jsts: dev and test both use valid-v1.3.json) and of --retrieval qrels' })
      .option('columns', { type: 'string', describe: 'csv / tsv / jsonl column names: sentence1,sentence2,score (or label)' })
      .option('out', { type: 'string', default: 'eval-report', describe: 'folder for report.json, report.md and report.html' })
      .option('batch-size', { type: 'number', default: 32, describe: 'sentences per forward pass' })
      .option('limit', { type: 'number', describe: 'use only the first N pairs (quick checks)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the metrics as JSON on stdout' })
      .option('dims', { type: 'string', describe: 'Matryoshka sizes, e.g. 256,128,64: the STS metrics also at each prefix size, re-normalised (spearman_cosine@128), with a per-dim table in the report' }) as unknown as Argv<EvalArgs>,
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

    const perDim = perDimSection(models.flatMap((m) => m.results.map((r) => [`${m.model} ${r.name}`, r.metrics] as const)), tasks[0].name ? `${tasks[0].name}_` : '');
    const paths = await writeReport(argv.out, {
      title: `Evaluation: ${tasks.map((t) => t.name).join(', ')}`,
      models,
      ...(perDim ? { sections: [perDim] } : {}),
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
