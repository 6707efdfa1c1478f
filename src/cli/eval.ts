/**
 * `sbert-train eval`: STS benchmark numbers for one or more models side by side (base vs
 * tuned), as sentence-transformers' EmbeddingSimilarityEvaluator reports them, plus a
 * report.json / report.md / report.html in --out.
 *
 *   sbert-train eval --model builtin:tiny --model runs/job-titles/final --sts stsb --split test
 */
import type { Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend/index.js';
import { loadSts, type ColumnMapping, type StsSplit } from '../data/sts.js';
import { ModelError, UserError } from '../errors.js';
import { evaluateSts, writeReport, type ModelResults, type ScatterData } from '../evaluation/index.js';
import { loadEncoder, type Encoder } from '../models/index.js';
import { axisLabels } from '../viz/labels.js';

interface EvalArgs {
  model: string[];
  sts: string;
  split: StsSplit;
  columns?: string;
  out: string;
  'batch-size': number;
  limit?: number;
  json: boolean;
  backend: string;
}

/**
 * Load a model for a command; any failure becomes a one-line ModelError naming the model
 * (a missing folder, a corrupt weight file and an unknown hub id all read the same way).
 */
export async function loadModelOrExplain(spec: string): Promise<Encoder> {
  try {
    return await loadEncoder(spec);
  } catch (e) {
    const msg = ((e as Error).message ?? String(e)).split('\n')[0];
    throw new ModelError(msg.includes(spec) ? msg : `cannot load model '${spec}': ${msg}`);
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

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'evaluate models on STS data (pearson / spearman of cosine, euclidean, manhattan, dot) and write reports',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'model folder, hub id or builtin:NAME; repeat to compare' })
      .option('sts', { type: 'string', demandOption: true, describe: "pair file (csv / tsv / jsonl), or 'stsb' / 'jsts' from ../shared/datasets" })
      .option('split', { type: 'string', choices: ['train', 'dev', 'test'], default: 'test', describe: 'split of stsb / jsts (jsts: dev and test both use valid-v1.3.json)' })
      .option('columns', { type: 'string', describe: 'generic files: sentence1,sentence2,score column names' })
      .option('out', { type: 'string', default: 'eval-report', describe: 'folder for report.json, report.md and report.html' })
      .option('batch-size', { type: 'number', default: 32, describe: 'sentences per forward pass' })
      .option('limit', { type: 'number', describe: 'use only the first N pairs (quick checks)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the metrics as JSON on stdout' }) as unknown as Argv<EvalArgs>,
  handler: async (argv) => {
    if (!(argv['batch-size'] >= 1)) throw new UserError(`--batch-size must be a positive integer, got ${argv['batch-size']}`);
    if (argv.limit !== undefined && !(argv.limit >= 2)) throw new UserError(`--limit must be at least 2, got ${argv.limit}`);
    const data = loadSts(argv.sts, argv.split, parseColumns(argv.columns));
    const pairs = argv.limit ? data.pairs.slice(0, argv.limit) : data.pairs;
    if (pairs.length < 2) throw new UserError(`${data.path}: need at least 2 pairs to compute correlations, found ${pairs.length}`);
    await initBackend(argv.backend);

    const labels = uniqueNames(argv.model);
    const models: ModelResults[] = [];
    const scatter: ScatterData[] = [];
    for (const [i, spec] of argv.model.entries()) {
      const encoder = await loadModelOrExplain(spec);
      try {
        const r = await evaluateSts(encoder, pairs, { batchSize: argv['batch-size'], name: data.name });
        models.push({ model: labels[i], results: [r] });
        scatter.push({ gold: r.gold, predicted: r.cosine, label: labels[i] });
        // drop the per-pair arrays from the stored results; the scatter keeps them once
        delete (r as Partial<typeof r>).gold;
        delete (r as Partial<typeof r>).cosine;
      } finally {
        encoder.dispose();
      }
    }

    const paths = await writeReport(argv.out, {
      title: `STS evaluation: ${data.name}`,
      models,
      scatter,
      meta: { dataset: data.name, file: data.path, pairs: pairs.length, 'similarity functions': 'cosine, euclidean, manhattan, dot (distances negated)' },
    });

    if (argv.json) {
      process.stdout.write(`${JSON.stringify(Object.fromEntries(models.map((m) => [m.model, m.results[0].metrics])), null, 2)}\n`);
    } else {
      const key = (k: string) => `${data.name}_${k}`;
      const width = Math.max(5, ...labels.map((l) => l.length));
      process.stdout.write(`${data.name} (${pairs.length} pairs)\n`);
      process.stdout.write(`${'model'.padEnd(width)}  spearman_cosine  pearson_cosine\n`);
      for (const m of models) {
        const x = m.results[0].metrics;
        process.stdout.write(`${m.model.padEnd(width)}  ${x[key('spearman_cosine')].toFixed(4).padStart(15)}  ${x[key('pearson_cosine')].toFixed(4).padStart(14)}\n`);
      }
      process.stdout.write(`report: ${paths.md} ${paths.html}\n`);
    }
  },
};
