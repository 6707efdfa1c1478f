/**
 * `sbert-train data mine-negatives`: add hard negatives to (anchor, positive) pairs with a
 * model, and write (anchor, positive, negative) rows a multiple_negatives_ranking recipe trains
 * on (`data.columns.texts: [anchor, positive, negative]`, `label: null`). The mining itself,
 * and what each option means, is src/data/hard-negatives.ts.
 *
 *   sbert-train data mine-negatives --model builtin:tiny --input pairs.csv --positive-threshold 1 \
 *     --out triplets.csv [--num-negatives 3] [--range-min 0] [--range-max N] [--margin M] ...
 *
 * Input: a csv / tsv / jsonl table read by the shared reader (src/data/pairs.ts): anchor and
 * positive columns by --columns, else `anchor,positive`, else `sentence1,sentence2`. A file with
 * a score column (data esco-pairs writes 1 / 0.5 / 0) holds more than positives: the command
 * refuses it unless --positive-threshold says which rows are positive pairs.
 */
import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Argv } from 'yargs';
import { initBackend } from '../backend/index.js';
import { columnArg, headerDefault, loadPairs, readTable, type Column, type InputFormat, type TableFormat } from '../data/index.js';
import { toCsv } from '../data/csv-write.js';
import { encoderEmbed, mineHardNegatives, minedRows, resolveMineOptions, EXACT_MAX_SCORES, type AnchorPositive, type MineOptions, type OutputFormat } from '../data/hard-negatives.js';
import { DataError, UserError } from '../errors.js';
import { sameFile, writeFileAtomic } from '../util/fs.js';
import { loadModelOrExplain } from './eval.js';
import { readTexts } from './encode.js';
import { tableOptions } from './table-options.js';

export interface MineArgs {
  model?: string;
  input?: string;
  out?: string;
  columns?: string;
  'score-column'?: string;
  'positive-threshold'?: number;
  format?: InputFormat;
  header?: boolean;
  corpus?: string;
  'corpus-column'?: string;
  'num-negatives': number;
  'range-min': number;
  'range-max'?: number;
  margin?: number;
  'relative-margin'?: number;
  'max-score'?: number;
  'min-score'?: number;
  sampling: 'top' | 'random';
  'output-format': OutputFormat;
  scores: boolean;
  exact: boolean;
  hnsw: boolean;
  ef?: number;
  'batch-size': number;
  force: boolean;
  seed: number;
  backend: string;
}

const OUTPUTS = ['.csv', '.tsv', '.jsonl'] as const;
/** Score columns that mean "this file holds more than positive pairs". */
const SCORE_COLUMNS = ['score', 'label'];

/** The options `data` adds for mine-negatives (yargs --strict needs them declared). */
export function mineNegativesOptions<T>(y: Argv<T>): Argv<T> {
  const o = (name: string, spec: Record<string, unknown>) => (y = y.option(name, { ...spec, describe: `mine-negatives: ${String(spec.describe)}` }) as Argv<T>);
  y = tableOptions(y);
  o('model', { type: 'string', describe: 'model that scores candidates (folder, hub id or builtin:tiny)' });
  o('input', { type: 'string', describe: '(anchor, positive) pairs: csv, tsv or jsonl' });
  o('columns', { type: 'string', describe: 'anchor and positive columns, A,P (names or 0-based indices; default anchor,positive else sentence1,sentence2)' });
  o('score-column', { type: 'string', describe: "score column for --positive-threshold (default 'score', else 'label')" });
  o('positive-threshold', { type: 'number', describe: 'keep only rows whose score is >= this as positive pairs (1 for data esco-pairs output)' });
  o('corpus', { type: 'string', describe: 'more candidate texts besides the positives (txt, csv, tsv, jsonl)' });
  o('corpus-column', { type: 'string', describe: "text column of --corpus (default: the only one, else 'text' or 'sentence')" });
  o('num-negatives', { type: 'number', default: 3, describe: 'negatives per anchor' });
  o('range-min', { type: 'number', default: 0, describe: 'skip the N closest candidates (possible unlabelled positives)' });
  o('range-max', { type: 'number', describe: 'consider candidates up to this rank (default range-min + num-negatives, x10 with a score filter)' });
  o('margin', { type: 'number', describe: 'keep a negative only if its score <= positive score - margin (absolute)' });
  o('relative-margin', { type: 'number', describe: 'keep a negative only if its score <= positive score - |positive score| x this (0.05 = 5%)' });
  o('max-score', { type: 'number', describe: 'keep a negative only if its score <= this' });
  o('min-score', { type: 'number', describe: 'keep a negative only if its score >= this' });
  o('sampling', { type: 'string', choices: ['top', 'random'], default: 'top', describe: 'top: the closest candidates that pass; random: a seeded draw among them' });
  o('output-format', { type: 'string', choices: ['triplet', 'n-tuple'], default: 'triplet', describe: 'triplet: a row per negative; n-tuple: anchor, positive, negative_1..n per pair' });
  o('scores', { type: 'boolean', default: false, describe: 'also write positive_score and negative_score columns' });
  o('exact', { type: 'boolean', default: false, describe: `brute-force search (default while anchors x corpus <= ${EXACT_MAX_SCORES / 1e6}M)` });
  o('hnsw', { type: 'boolean', default: false, describe: 'approximate search through an HNSW graph (default above that)' });
  o('ef', { type: 'number', describe: 'HNSW search breadth (default max(100, 2 x candidates))' });
  o('batch-size', { type: 'number', default: 32, describe: 'texts per forward pass' });
  o('force', { type: 'boolean', default: false, describe: 'replace an existing --out' });
  return y;
}

/** `--columns A,P` or the defaults found in the header. */
function pairColumns(spec: string | undefined, header: string[] | null, input: string): [Column, Column] {
  if (spec !== undefined) {
    const parts = spec.split(',').map((s) => s.trim());
    if (parts.length !== 2 || parts.some((p) => !p)) throw new UserError(`--columns: expected two columns, anchor,positive (names or 0-based indices), got '${spec}'`);
    return [columnArg(parts[0]), columnArg(parts[1])];
  }
  for (const [a, p] of [['anchor', 'positive'], ['sentence1', 'sentence2']]) if (header?.includes(a) && header.includes(p)) return [a, p];
  const have = header ? header.map((h) => `'${h}'`).join(', ') : 'no header';
  throw new UserError(`${input}: no anchor,positive or sentence1,sentence2 columns (${have}); name them with --columns A,P`);
}

/** The positive pairs of the input: every row, or with --positive-threshold the rows scored at least that. */
export function readPositivePairs(args: Pick<MineArgs, 'input' | 'columns' | 'score-column' | 'positive-threshold' | 'format' | 'header'>): AnchorPositive[] {
  const input = args.input!;
  if (args.format === 'txt') throw new UserError('--format txt: mine-negatives reads pairs from a csv, tsv or jsonl table');
  const format = args.format as TableFormat | undefined;
  const given = args.columns?.split(',').map((s) => columnArg(s.trim()));
  const named = headerDefault(given ?? []);
  // Read the header once to find default columns and a score column.
  const header = (args.header ?? named) ? readTable(input, { format, header: true }).header : null;
  const [anchor, positive] = pairColumns(args.columns, header, input);
  const threshold = args['positive-threshold'];
  let score: string | null = args['score-column'] ?? null;
  if (threshold === undefined) {
    const found = score ?? SCORE_COLUMNS.find((c) => header?.includes(c));
    if (found) throw new UserError(`${input}: has a '${found}' column, so not every row is a positive pair; keep the positives with --positive-threshold T (e.g. 1 for data esco-pairs output)`);
  } else {
    if (!Number.isFinite(threshold)) throw new UserError(`--positive-threshold: must be a number, got ${threshold}`);
    score ??= SCORE_COLUMNS.find((c) => header?.includes(c)) ?? null;
    if (score === null) throw new UserError(`--positive-threshold: ${input} has no 'score' or 'label' column; name it with --score-column`);
  }
  const loaded = loadPairs(input, { columns: { texts: [anchor, positive], label: score === null ? null : columnArg(score) }, format, header: args.header });
  const pairs = loaded.examples.filter((e) => threshold === undefined || (e.label ?? -Infinity) >= threshold).map((e) => ({ anchor: e.texts[0], positive: e.texts[1] }));
  if (pairs.length === 0) throw new DataError(`${input}: no row has a score >= ${threshold} (--positive-threshold)`);
  return pairs;
}

function checkOut(out: string, input: string, force: boolean): (typeof OUTPUTS)[number] {
  const ext = extname(out).toLowerCase();
  if (!(OUTPUTS as readonly string[]).includes(ext)) throw new UserError(`--out ${out}: use .csv, .tsv or .jsonl`);
  if (existsSync(out)) {
    if (statSync(out).isDirectory()) throw new UserError(`--out ${out}: is a folder, expected a file`);
    if (sameFile(out, input)) throw new UserError(`--out ${out} is the input file; choose another output`);
    if (!force) throw new UserError(`--out ${out}: exists; pass --force to replace it`);
  }
  return ext as (typeof OUTPUTS)[number];
}

/** The file's bytes: csv (RFC 4180), tsv (no quoting, so no tabs or line breaks in texts) or jsonl. */
function serialise(ext: (typeof OUTPUTS)[number], columns: string[], rows: (string | number)[][], out: string): string {
  if (ext === '.csv') return toCsv(columns, rows);
  if (ext === '.jsonl') return rows.map((r) => JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, r[i]])))).join('\n') + (rows.length ? '\n' : '');
  const bad = rows.findIndex((r) => r.some((v) => typeof v === 'string' && /[\t\r\n]/.test(v)));
  if (bad >= 0) throw new DataError(`--out ${out}: row ${bad + 1} holds a tab or line break, which tsv cannot hold; write .csv or .jsonl`);
  return [columns, ...rows].map((r) => r.join('\t')).join('\n') + '\n';
}

export async function runMineNegatives(args: MineArgs): Promise<void> {
  if (!args.model) throw new UserError('data mine-negatives: --model is required (the model that scores candidates)');
  if (!args.input) throw new UserError('data mine-negatives: --input FILE is required ((anchor, positive) pairs)');
  if (!args.out) throw new UserError('data mine-negatives: --out FILE is required (.csv, .tsv or .jsonl)');
  if (args.exact && args.hnsw) throw new UserError('--exact and --hnsw: choose one');
  if (!Number.isInteger(args['batch-size']) || args['batch-size'] < 1) throw new UserError(`--batch-size: must be a whole number >= 1, got ${args['batch-size']}`);
  const opts: MineOptions = {
    numNegatives: args['num-negatives'],
    rangeMin: args['range-min'],
    rangeMax: args['range-max'],
    margin: args.margin,
    relativeMargin: args['relative-margin'],
    maxScore: args['max-score'],
    minScore: args['min-score'],
    sampling: args.sampling,
    seed: args.seed,
    search: args.exact ? 'exact' : args.hnsw ? 'hnsw' : 'auto',
    ef: args.ef,
  };
  const resolved = resolveMineOptions(opts, (o) => `--${o.replace(/_/g, '-')}`);
  if (!existsSync(args.input)) throw new UserError(`--input ${args.input}: file not found`);
  const ext = checkOut(args.out, args.input, args.force);
  const pairs = readPositivePairs(args);
  const corpus = args.corpus ? readTexts(args.corpus, { column: args['corpus-column'] === undefined ? undefined : columnArg(args['corpus-column']) }) : [];

  await initBackend(args.backend);
  const encoder = await loadModelOrExplain(args.model);
  try {
    const { pairs: mined, stats } = await mineHardNegatives(pairs, encoderEmbed(encoder, { batchSize: args['batch-size'], progress: true }), {
      ...opts,
      corpus,
      progress: true,
      onPlan: (p) => {
        const why = opts.search === 'auto' ? `${p.anchors} anchors x ${p.corpus} texts ${p.search === 'exact' ? '<=' : '>'} ${EXACT_MAX_SCORES / 1e6}M scores; --exact / --hnsw to choose` : 'as asked';
        process.stderr.write(`search: ${p.search} (${why})\n`);
      },
    });
    const { columns, rows } = minedRows(mined, args['output-format'], resolved.numNegatives, args.scores);
    writeFileAtomic(args.out, serialise(ext, columns, rows, args.out));
    const skipped = Object.entries(stats.skipped)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} by ${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`);
    process.stdout.write(
      `wrote ${rows.length} ${args['output-format']} rows for ${stats.pairs} pairs (${stats.anchors} anchors) to ${args.out}; ` +
        `candidates of rank ${stats.rangeMin}-${stats.rangeMax - 1} among ${stats.corpus} corpus texts (${stats.search} search)` +
        (skipped.length ? `; candidates skipped: ${skipped.join(', ')}` : '') +
        (stats.shortAnchors ? `; ${stats.shortAnchors} anchors got fewer than ${resolved.numNegatives} negatives` : '') +
        (stats.duplicatePairs ? `; ${stats.duplicatePairs} duplicate pairs dropped` : '') +
        '\n',
    );
  } finally {
    encoder.dispose();
  }
}
