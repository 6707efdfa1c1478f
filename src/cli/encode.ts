/**
 * `sbert-train encode`: embed every text of a file with a model and write the embeddings as a
 * NumPy .npy matrix [n, dim] (float32, row i = text i) or as JSON lines
 * {"text": ..., "embedding": [...]}, the way `SentenceTransformer.encode` is used for batch
 * embedding jobs.
 *
 * Inputs, by extension:
 *   .txt           one text per line; every line counts (a blank line is an empty text), so
 *                  row i of the output is line i + 1 of the file; a final newline ends the last
 *                  line, it does not add an empty one.
 *   .csv / .tsv    with a header row; the column is --column, else the only column, else
 *                  'text' or 'sentence'.
 *   .jsonl/.ndjson one JSON object per line, the text under --column (default 'text', then
 *                  'sentence'); a line may also be a bare JSON string.
 */
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { parse as parseCsv } from 'csv-parse/sync';
import { initBackend } from '../backend/index.js';
import { DataError, ModelError, UserError, isUserError } from '../errors.js';
import { loadEncoder } from '../models/index.js';
import type { Encoder } from '../models/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { writeNpyRows } from '../util/npy.js';

const INPUT_KINDS = ['.txt', '.csv', '.tsv', '.jsonl', '.ndjson'] as const;
const OUTPUT_KINDS = ['.npy', '.jsonl'] as const;
/** Columns tried, in order, when a table has several and --column is not given. */
const DEFAULT_COLUMNS = ['text', 'sentence'];

interface EncodeArgs {
  model: string;
  input: string;
  output: string;
  column?: string;
  'batch-size': number;
  normalize: boolean;
  backend: string;
}

function readText(path: string): string {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `${path}: input file not found` : `${path}: cannot read input file (${code ?? (e as Error).message})`);
  }
  if (isDir) throw new DataError(`${path}: is a folder, expected an input file`);
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`${path}: cannot read input file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function pickColumn(available: string[], column: string | undefined, path: string): string {
  if (column !== undefined) {
    if (!available.includes(column)) throw new DataError(`${path}: no column '${column}'; available: ${available.join(', ')}`);
    return column;
  }
  if (available.length === 1) return available[0];
  const found = DEFAULT_COLUMNS.find((c) => available.includes(c));
  if (found) return found;
  throw new UserError(`${path}: has ${available.length} columns (${available.join(', ')}); choose the text column with --column`);
}

/** The texts of an input file, in file order (see the module doc for the formats). */
export function readTexts(path: string, column?: string): string[] {
  const ext = extname(path).toLowerCase();
  if (!(INPUT_KINDS as readonly string[]).includes(ext)) {
    throw new UserError(`${path}: unsupported input type '${ext || '(no extension)'}'; use one of ${INPUT_KINDS.join(', ')}`);
  }
  const text = readText(path).replace(/^\uFEFF/, '');
  let texts: string[];
  if (ext === '.txt') {
    if (column !== undefined) throw new UserError(`${path}: --column applies to .csv, .tsv and .jsonl inputs, not .txt`);
    texts = text.split('\n').map((l) => l.replace(/\r$/, ''));
    if (texts[texts.length - 1] === '') texts.pop();
  } else if (ext === '.csv' || ext === '.tsv') {
    texts = readTable(text, path, ext === '.tsv' ? '\t' : ',', column);
  } else {
    texts = readJsonl(text, path, column);
  }
  if (texts.length === 0) throw new DataError(`${path}: no texts to encode (the file is empty)`);
  return texts;
}

function readTable(text: string, path: string, delimiter: string, column: string | undefined): string[] {
  let rows: string[][];
  try {
    rows = parseCsv(text, { delimiter, skip_empty_lines: true, relax_column_count: true }) as string[][];
  } catch (e) {
    throw new DataError(`${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (rows.length === 0) throw new DataError(`${path}: no texts to encode (the file is empty)`);
  const header = rows[0].map((h) => h.trim());
  const col = header.indexOf(pickColumn(header, column, path));
  return rows.slice(1).map((r, i) => {
    // Line numbers are approximate for quoted multi-line cells; the row number is exact.
    if (col >= r.length) throw new DataError(`${path}: row ${i + 2} has no value for column '${header[col]}'`);
    return r[col];
  });
}

function readJsonl(text: string, path: string, column: string | undefined): string[] {
  const texts: string[] = [];
  let key: string | undefined = column;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const where = `${path}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${where}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (typeof v === 'string' && column === undefined) {
      texts.push(v);
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DataError(`${where}: expected a JSON object${column === undefined ? ' or string' : ''}`);
    const obj = v as Record<string, unknown>;
    // Without --column, the key is chosen from the first object and then required everywhere.
    key ??= pickColumn(Object.keys(obj), undefined, where);
    if (!(key in obj)) throw new DataError(`${where}: no key '${key}'; available: ${Object.keys(obj).join(', ') || '(none)'}`);
    const value = obj[key];
    if (typeof value !== 'string') throw new DataError(`${where}: '${key}' is not a string`);
    texts.push(value);
  });
  return texts;
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

/** True when both paths name one existing file (the same path, through a symlink, `./`, or a hard link). */
function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false; // the output does not exist yet
  }
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
  const texts = readTexts(args.input, args.column);
  if (sameFile(args.input, args.output)) {
    throw new UserError(`--output ${args.output} is the input file ${args.input}; writing it would replace the texts (choose another output)`);
  }
  await initBackend(args.backend);
  const encoder = await load(args.model);
  try {
    const rows = await encoder.encode(texts, { batchSize: args['batch-size'], normalize: args.normalize, progress: texts.length > args['batch-size'] });
    // Both writes are atomic (writeFileAtomic: temp file + rename): a failed write leaves the
    // previous output as it was, no temp file, and an error naming the output.
    if (kind === '.npy') {
      writeNpyRows(args.output, rows, encoder.dim);
    } else {
      const lines = texts.map((t, i) => JSON.stringify({ text: t, embedding: Array.from(rows[i], f32) }));
      writeFileAtomic(args.output, lines.join('\n') + '\n');
    }
    return { count: texts.length, dim: encoder.dim };
  } finally {
    encoder.dispose();
  }
}

export const encodeCommand: CommandModule<object, EncodeArgs> = {
  command: 'encode',
  describe: 'embed texts from a file into .npy or .jsonl',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', demandOption: true, describe: 'model folder, hub id, or builtin:tiny' })
      .option('input', { type: 'string', demandOption: true, describe: 'texts: .txt (one per line), .csv/.tsv (header row), .jsonl' })
      .option('column', { type: 'string', describe: "text column / key for .csv, .tsv, .jsonl (default: the only one, else 'text' or 'sentence')" })
      .option('output', { type: 'string', demandOption: true, describe: 'embeddings file: .npy (float32 [n, dim]) or .jsonl' })
      .option('batch-size', { type: 'number', default: 32, describe: 'texts per forward pass' })
      .option('normalize', { type: 'boolean', default: false, describe: 'L2-normalise each embedding' })
      .example('$0 encode --model ./out/model --input titles.txt --output titles.npy', '') as unknown as Argv<EncodeArgs>,
  handler: async (argv) => {
    const { count, dim } = await runEncode(argv);
    process.stdout.write(`wrote ${count} embeddings (dim ${dim}) to ${argv.output}\n`);
  },
};
