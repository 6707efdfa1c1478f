/**
 * `sbert-train encode`: embed every text of a file with a model and write the embeddings as a
 * NumPy .npy matrix [n, dim] (float32, row i = text i) or as JSON lines
 * {"text": ..., "embedding": [...]}, the way `SentenceTransformer.encode` is used for batch
 * embedding jobs.
 *
 * Inputs, by extension or --format, through the shared table reader (src/data/table.ts):
 *   txt            one text per line; every line counts (a blank line is an empty text), so
 *                  row i of the output is line i + 1 of the file; a final newline ends the last
 *                  line, it does not add an empty one.
 *   csv / tsv      csv with RFC 4180 quoting, tsv without quoting (STS Benchmark); a header row
 *                  unless the column is a 0-based index (--header overrides); the column is
 *                  --column, else the only column, else 'text' or 'sentence'.
 *   jsonl/ndjson   one JSON object per line, the text under --column (default 'text', then
 *                  'sentence'); without --column a line may also be a bare JSON string.
 */
import { statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { cell, columnArg, headerDefault, inputFormatFromPath, readInput, resolveColumn, type Column, type InputFormat, type Table } from '../data/index.js';
import { tableOptions } from './table-options.js';
import { initBackend } from '../backend/index.js';
import { DataError, ModelError, UserError, isUserError } from '../errors.js';
import { loadEncoder } from '../models/index.js';
import { checkTruncateDim } from '../models/prompts.js';
import type { Encoder } from '../models/index.js';
import { sameFile, writeFileAtomic } from '../util/fs.js';
import { writeNpyRows } from '../util/npy.js';

const OUTPUT_KINDS = ['.npy', '.jsonl'] as const;
/** Columns tried, in order, when a table has several and --column is not given. */
const DEFAULT_COLUMNS = ['text', 'sentence'];

interface EncodeArgs {
  model: string;
  input: string;
  output: string;
  column?: string;
  format?: InputFormat;
  header?: boolean;
  'batch-size': number;
  normalize: boolean;
  dim?: number;
  prompt?: string;
  'prompt-name'?: string;
  backend: string;
}

export interface InputOptions {
  /** Column name, or 0-based index (a whole number); default: see pickColumn. */
  column?: Column;
  format?: InputFormat;
  header?: boolean;
}

/** Without --column: the only column, else 'text' / 'sentence' when the table has names. */
function pickColumn(table: Table): Column {
  if (table.header) {
    if (table.header.length === 1) return table.header[0];
    const found = DEFAULT_COLUMNS.find((c) => table.header!.includes(c));
    if (found) return found;
    throw new UserError(`${table.path}: has ${table.header.length} columns (${table.header.join(', ')}); choose the text column with --column`);
  }
  const width = table.rows.reduce((m, r) => Math.max(m, Array.isArray(r.cells) ? r.cells.length : 0), 0);
  if (width <= 1) return 0;
  throw new UserError(`${table.path}: has ${width} unnamed columns; choose the text column with --column (a 0-based index)`);
}

/** What a cell holds, for a message: "a number (5)", "null", "nothing". */
function kind(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  return typeof v === 'object' ? (Array.isArray(v) ? 'an array' : 'an object') : `a ${typeof v} (${String(v)})`;
}

/**
 * The texts of an input file, in file order, read by the table reader every command shares
 * (src/data/table.ts: the same --format, --header, column-by-index and quoting rules as
 * recipes and `index build`).
 */
export function readTexts(path: string, opts: InputOptions = {}): string[] {
  const format = opts.format ?? inputFormatFromPath(path);
  if (format === 'txt' && opts.column !== undefined) throw new UserError(`${path}: --column applies to csv, tsv and jsonl inputs, not txt`);
  const header = opts.header ?? headerDefault([opts.column]);
  const table = readInput(path, { format, header, bareStrings: opts.column === undefined });
  if (table.rows.length === 0) throw new DataError(`${path}: no texts to encode (the file is empty)`);
  const col = opts.column ?? pickColumn(table);
  const key = resolveColumn(table, col);
  return table.rows.map((row) => {
    const v = cell(row, key);
    if (typeof v !== 'string') throw new DataError(`${path}:${row.line}: column ${typeof col === 'number' ? col : `'${col}'`} holds ${kind(v)}, not a text`);
    return v;
  });
}

/** Shortest decimal that reads back as the same float32 (9 significant digits always do). */
function f32(x: number): number {
  return Number(x.toPrecision(9));
}

function checkOutput(path: string): '.npy' | '.jsonl' {
  const ext = extname(path).toLowerCase();
  if (!(OUTPUT_KINDS as readonly string[]).includes(ext)) {
    throw new UserError(`${path}: unsupported output type '${ext || '(no extension)'}'; use .npy (float32 matrix) or .jsonl`);
  }
  try {
    if (statSync(path).isDirectory()) throw new UserError(`${path}: is a folder, expected an output file`);
  } catch (e) {
    if (isUserError(e)) throw e;
  }
  return ext as '.npy' | '.jsonl';
}

async function load(spec: string): Promise<Encoder> {
  try {
    return await loadEncoder(spec);
  } catch (e) {
    if (isUserError(e)) throw e;
    // Anything a loader did not anticipate (a malformed tokenizer, say) is still the model's fault.
    throw new ModelError(`${spec}: cannot load model: ${(e as Error).message.split('\n')[0]}`);
  }
}

export async function runEncode(args: EncodeArgs): Promise<{ count: number; dim: number }> {
  const kind = checkOutput(args.output);
  if (!Number.isInteger(args['batch-size']) || args['batch-size'] < 1) throw new UserError(`--batch-size must be a positive integer, got ${args['batch-size']}`);
  if (args.dim !== undefined && !(Number.isInteger(args.dim) && args.dim >= 1)) throw new UserError(`--dim must be a whole number >= 1, got ${args.dim}`);
  if (args.prompt !== undefined && args['prompt-name'] !== undefined) throw new UserError('give --prompt or --prompt-name, not both');
  const texts = readTexts(args.input, { column: args.column === undefined ? undefined : columnArg(args.column), format: args.format, header: args.header });
  if (sameFile(args.input, args.output)) {
    throw new UserError(`--output ${args.output} is the input file ${args.input}; writing it would replace the texts (choose another output)`);
  }
  await initBackend(args.backend);
  const encoder = await load(args.model);
  try {
    if (args.dim !== undefined) checkTruncateDim(args.dim, encoder.dim, '--dim', args.model);
    const dim = args.dim ?? encoder.dim;
    const rows = await encoder.encode(texts, {
      batchSize: args['batch-size'],
      normalize: args.normalize,
      progress: texts.length > args['batch-size'],
      ...(args.dim !== undefined ? { dim: args.dim } : {}),
      ...(args.prompt !== undefined ? { prompt: args.prompt } : {}),
      ...(args['prompt-name'] !== undefined ? { promptName: args['prompt-name'] } : {}),
    });
    // Both writes are atomic (writeFileAtomic: temp file + rename): a failed write leaves the
    // previous output as it was, no temp file, and an error naming the output.
    if (kind === '.npy') {
      writeNpyRows(args.output, rows, dim);
    } else {
      const lines = texts.map((t, i) => JSON.stringify({ text: t, embedding: Array.from(rows[i], f32) }));
      writeFileAtomic(args.output, lines.join('\n') + '\n');
    }
    return { count: texts.length, dim };
  } finally {
    encoder.dispose();
  }
}

export const encodeCommand: CommandModule<object, EncodeArgs> = {
  command: 'encode',
  describe: 'embed texts from a file into .npy or .jsonl',
  builder: (y: Argv) =>
    tableOptions(y)
      .option('model', { type: 'string', demandOption: true, describe: 'model folder, hub id, or builtin:tiny' })
      .option('input', { type: 'string', demandOption: true, describe: 'texts: .txt (one per line), .csv/.tsv, .jsonl' })
      .option('column', { type: 'string', describe: "text column: a name, or a 0-based index (then no header row unless --header) (default: the only one, else 'text' or 'sentence')" })
      .option('output', { type: 'string', demandOption: true, describe: 'embeddings file: .npy (float32 [n, dim]) or .jsonl' })
      .option('batch-size', { type: 'number', default: 32, describe: 'texts per forward pass' })
      .option('normalize', { type: 'boolean', default: false, describe: 'L2-normalise each embedding' })
      .option('dim', { type: 'number', describe: 'keep the first N values of each embedding, L2-normalised again (Matryoshka models)' })
      .option('prompt-name', { type: 'string', describe: "prepend the model's prompt of this name (config_sentence_transformers.json; default: its default_prompt_name)" })
      .option('prompt', { type: 'string', describe: "prepend this text to every input ('' for none, even over the model's default prompt)" })
      .example('$0 encode --model ./out/model --input titles.txt --output titles.npy', '') as unknown as Argv<EncodeArgs>,
  handler: async (argv) => {
    const { count, dim } = await runEncode(argv);
    process.stdout.write(`wrote ${count} embeddings (dim ${dim}) to ${argv.output}\n`);
  },
};
