/**
 * `sbert-train data check FILE...` and `sbert-train data augment FILE --out OUT`: the handlers
 * and flags of the two data actions that read a user's table (src/data/check.ts,
 * src/data/augment.ts), wired into `sbert-train data` by ./data.ts.
 *
 *   sbert-train data check train.csv dev.csv test.csv [--columns sentence1,sentence2] [--label score]
 *                          [--model M [--max-seq-length N]] [--json] [--strict]
 *   sbert-train data augment train.csv --out train-aug.csv [--columns text] [--ops swap,delete,synonym]
 *                          [--synonyms syn.txt] [--alpha 0.1] [--per-row 1] [--seed 42] [--force]
 */
import type { Argv } from 'yargs';
import { UserError } from '../errors.js';
import { checkFiles, checkSummary } from '../data/check.js';
import { AUGMENT_OPS, augmentFile, readSynonyms, type AugmentOp } from '../data/augment.js';
import { columnArg, type Column, type TableFormat } from '../data/table.js';
import { loadEncoder } from '../models/index.js';
import { initBackend } from '../backend/index.js';
import { tableOptions } from './table-options.js';

export interface CheckAugmentArgs {
  files?: string[];
  out?: string;
  columns?: string;
  label?: string;
  format?: string;
  header?: boolean;
  model?: string;
  'max-seq-length'?: number;
  json: boolean;
  strict: boolean;
  ops: string;
  synonyms?: string;
  alpha: number;
  'per-row': number;
  originals: boolean;
  force: boolean;
  seed: number;
  backend?: string;
}

/** The flags of `data check` and `data augment` (the table flags are those of encode / index). */
export function checkAugmentOptions<T>(y: Argv<T>): Argv<T> {
  // --columns, --model and --force mean the same kind of thing for other data actions (mine-negatives): declared once.
  const declared = (y as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key;
  const shared = (name: string, spec: Record<string, unknown>) => (name in declared ? y : (y.option(name, spec) as Argv<T>));
  y = shared('columns', { type: 'string', describe: 'check / augment: text columns, comma-separated names or 0-based indices (default sentence1,sentence2)' });
  y = shared('model', { type: 'string', describe: "check: count tokens with this model's tokenizer (folder, hub id or builtin:tiny) and report texts over its max_seq_length" });
  y = shared('force', { type: 'boolean', default: false, describe: 'augment: replace --out when it exists' });
  return tableOptions(y)
    .option('label', { type: 'string', describe: 'check: label column for the label histogram' })
    .option('max-seq-length', { type: 'number', describe: "check: the token limit (default: the model's)" })
    .option('json', { type: 'boolean', default: false, describe: 'check: print the findings as JSON instead of the summary' })
    .option('strict', { type: 'boolean', default: false, describe: 'check: exit 1 when a row appears in more than one file (leakage)' })
    .option('ops', { type: 'string', default: 'swap,delete', describe: `augment: operations to draw from, comma-separated (${AUGMENT_OPS.join(', ')})` })
    .option('synonyms', { type: 'string', describe: 'augment: synonym file for --ops synonym (one group a line: car, automobile, auto)' })
    .option('alpha', { type: 'number', default: 0.1, describe: "augment: share of a text's words an operation changes (EDA's alpha)" })
    .option('per-row', { type: 'number', default: 1, describe: 'augment: augmented copies per row' })
    .option('originals', { type: 'boolean', default: true, describe: 'augment: keep the original rows in the output (--no-originals: only the copies)' }) as Argv<T>;
}

function columnsOf(raw: string | undefined): Column[] {
  const list = (raw ?? 'sentence1,sentence2').split(',').map((s) => s.trim());
  if (list.some((c) => c === '')) throw new UserError(`--columns: empty column name in '${raw}'`);
  return list.map(columnArg);
}

function tableFormat(raw: string | undefined): TableFormat | undefined {
  if (raw === 'txt') throw new UserError('--format txt: data check / augment read tables (csv, tsv, jsonl)');
  return raw as TableFormat | undefined;
}

export async function runDataCheck(argv: CheckAugmentArgs): Promise<void> {
  const files = argv.files ?? [];
  if (files.length === 0) throw new UserError('data check: give one or more data files (e.g. train.csv dev.csv test.csv)');
  const limit = argv['max-seq-length'];
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UserError(`--max-seq-length: must be a whole number >= 1, got ${limit}`);
  if (limit !== undefined && !argv.model) throw new UserError('--max-seq-length: needs --model (its tokenizer counts the tokens)');
  let tokenCount: ((t: string) => number) | undefined;
  let maxSeqLength: number | undefined;
  if (argv.model) {
    await initBackend(argv.backend ?? 'auto', { quiet: true }); // only the tokenizer is used, but the model loads its weights
    const enc = await loadEncoder(argv.model);
    tokenCount = (t) => enc.tokenizer.ids(t, Number.MAX_SAFE_INTEGER).ids.length;
    maxSeqLength = limit ?? enc.maxSeqLength;
  }
  const report = checkFiles(files, { columns: columnsOf(argv.columns), label: argv.label === undefined ? null : columnArg(argv.label), format: tableFormat(argv.format), header: argv.header, tokenCount, maxSeqLength });
  process.stdout.write(argv.json ? `${JSON.stringify({ ...report, model: argv.model ?? null }, null, 2)}\n` : checkSummary(report));
  if (argv.strict && report.leakage.rows > 0) {
    process.stderr.write(`sbert-train: data check --strict: ${report.leakage.rows} row(s) appear in more than one file (leakage)\n`);
    process.exitCode = 1;
  }
}

export function runDataAugment(argv: CheckAugmentArgs): void {
  const files = argv.files ?? [];
  if (files.length !== 1) throw new UserError(`data augment: give exactly one training file, got ${files.length}`);
  if (!argv.out) throw new UserError('data augment: --out FILE is required (a new file; the input is never changed)');
  const ops = argv.ops.split(',').map((s) => s.trim()) as AugmentOp[];
  const bad = ops.find((o) => !(AUGMENT_OPS as readonly string[]).includes(o));
  if (bad !== undefined || ops.length === 0) throw new UserError(`--ops: must list operations from ${AUGMENT_OPS.join(', ')}, got '${argv.ops}'`);
  const perRow = argv['per-row'];
  if (!Number.isInteger(perRow) || perRow < 1) throw new UserError(`--per-row: must be a whole number >= 1, got ${perRow}`);
  if (!Number.isInteger(argv.seed) || argv.seed < 0) throw new UserError(`--seed: must be a whole number >= 0, got ${argv.seed}`);
  if (argv.synonyms && !ops.includes('synonym')) throw new UserError('--synonyms: only used with --ops synonym');
  const r = augmentFile(
    files[0],
    argv.out,
    {
      columns: columnsOf(argv.columns),
      ops,
      alpha: argv.alpha,
      perRow,
      seed: argv.seed,
      synonyms: argv.synonyms ? readSynonyms(argv.synonyms) : undefined,
      keepOriginals: argv.originals,
      format: tableFormat(argv.format),
      header: argv.header,
    },
    argv.force,
  );
  const mix = Object.entries(r.byOp)
    .map(([o, n]) => `${n} ${o}`)
    .join(', ');
  process.stdout.write(`wrote ${argv.originals ? `${r.rows} rows and ` : ''}${r.added} augmented copies (${mix}) to ${argv.out}\n`);
}
