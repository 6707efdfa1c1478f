/**
 * Read a csv, tsv or jsonl file into rows that remember their 1-based line number, so every
 * later complaint about a row can say `file:line`.
 *
 * - csv: RFC 4180 (quoted fields may span lines; the row's line is where it starts).
 * - tsv: IANA text/tab-separated-values: no quoting, a quote character is literal text (as
 *   in the STS Benchmark files). Fields cannot contain tabs or newlines.
 * - jsonl: one JSON object (by column name) or array (by index) per line; values keep their
 *   JSON types (a number stays a number).
 *
 * The file is checked before parsing: empty, invalid UTF-8 (first bad line named), and the
 * most common mistake, a delimiter that does not match the extension (a ".csv" full of tabs
 * parses as one column).
 */
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { DataError } from '../errors.js';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';
/** What the commands that read texts (`encode`, `index build|add`) take: a table or a .txt file. */
export type InputFormat = TableFormat | 'txt';
export const INPUT_FORMATS: readonly InputFormat[] = ['csv', 'tsv', 'jsonl', 'txt'];
/** A column by header name, or by 0-based index. */
export type Column = string | number;

export interface TableRow {
  /** 1-based line in the file where this row starts. */
  line: number;
  /**
   * csv/tsv: cells in order (strings); jsonl arrays: values in order and jsonl objects: the
   * object, both with their JSON types kept, so a reader can refuse a number where text belongs.
   */
  cells: unknown[] | Record<string, unknown>;
}

export interface Table {
  path: string;
  /** 'txt' only from readInput: one row a line, its one cell the line. */
  format: InputFormat;
  /** Header names (csv/tsv with a header; jsonl: keys of the first object), else null. */
  header: string[] | null;
  rows: TableRow[];
}

export interface ReadTableOptions {
  /** Default: from the extension (.csv, .tsv/.tab, .jsonl/.ndjson/.json). */
  format?: TableFormat;
  /** csv/tsv: is the first row a header? Default true. */
  header?: boolean;
  /** jsonl: also take a line that is a bare JSON string, as a one-cell row (`encode` inputs). */
  bareStrings?: boolean;
}

/**
 * A column as typed on the command line: a whole number is a 0-based index (the STS Benchmark
 * files have no header: `--text-column 5`), anything else a header name or jsonl key.
 */
export function columnArg(raw: string | number): Column {
  if (typeof raw === 'number') return raw;
  return /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
}

/**
 * The csv/tsv header default every reader shares (recipes, `encode`, `index build`): a header
 * row exactly when every column given is a name; an index means the file is read from row 1.
 */
export function headerDefault(columns: (Column | undefined | null)[]): boolean {
  return columns.every((c) => c === undefined || c === null || typeof c === 'string');
}

export function formatFromPath(path: string): TableFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  throw new DataError(`${path}: cannot tell the format from the extension '${ext || '(none)'}' (use .csv, .tsv or .jsonl)`);
}

/** Decode strictly; on bad bytes, name the first line that holds one. */
function decodeUtf8(path: string, buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf);
  } catch {
    const strict = new TextDecoder('utf-8', { fatal: true });
    let start = 0;
    let line = 1;
    while (start <= buf.length) {
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      try {
        strict.decode(buf.subarray(start, end));
      } catch {
        throw new DataError(`${path}:${line}: not valid UTF-8 (re-save the file as UTF-8)`);
      }
      start = end + 1;
      line++;
    }
    throw new DataError(`${path}: not valid UTF-8 (re-save the file as UTF-8)`);
  }
}

/** The file's text, checked as every table is (exists, not a folder, UTF-8, not empty); BOM removed. */
export function readFileChecked(path: string): string {
  let buf: Buffer;
  try {
    if (statSync(path).isDirectory()) throw new DataError(`${path}: is a folder, not a data file`);
    buf = readFileSync(path);
  } catch (e) {
    if (e instanceof DataError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `${path}: file not found` : `cannot read ${path}: ${code ?? (e as Error).message}`);
  }
  const text = decodeUtf8(path, buf).replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new DataError(`${path}: empty file`);
  return text;
}

/** Line where a csv-parse record starts: its end line minus the newlines inside it. */
function startLine(endLine: number, raw: string): number {
  const body = raw.replace(/^\n+/, '').replace(/\n$/, '');
  return endLine - (body.match(/\n/g)?.length ?? 0);
}

function readDelimited(path: string, text: string, format: 'csv' | 'tsv', hasHeader: boolean): Table {
  const delimiter = format === 'csv' ? ',' : '\t';
  let records: { record: string[]; info: { lines: number }; raw: string }[];
  try {
    // One line-end convention, so csv-parse's line counts are file lines even in mixed files.
    records = parseCsv(text.replace(/\r\n?/g, '\n'), {
      delimiter,
      quote: format === 'csv' ? '"' : false,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      raw: true,
    }) as unknown as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number };
    const msg = err.message.split('\n')[0].replace(/^Invalid Record Length: /, '');
    // A quote error in a tab-separated file read as csv (the STS Benchmark files are named .csv):
    // the delimiter is the mistake, not the quote.
    const firstLine = text.split('\n', 1)[0];
    if (format === 'csv' && (firstLine.match(/\t/g)?.length ?? 0) > (firstLine.match(/,/g)?.length ?? 0)) {
      throw new DataError(`${path}${err.lines ? `:${err.lines}` : ''}: csv parse error (${msg.replace(/:.*$/, '')}), and the lines contain tabs: this looks tab-separated, without csv quoting (set the format to tsv)`);
    }
    throw new DataError(`${path}${err.lines ? `:${err.lines}` : ''}: ${format} parse error: ${msg}`);
  }
  // Skip rows that are only whitespace (e.g. trailing "\r\n  ").
  const rows = records
    .filter((r) => !(r.record.length === 1 && r.record[0].trim() === ''))
    .map((r) => ({ line: startLine(r.info.lines, r.raw), cells: r.record }));
  if (rows.length > 0) checkDelimiter(path, format, rows[0].cells as string[], rows[0].line);
  if (!hasHeader) return { path, format, header: null, rows };
  const [head, ...body] = rows;
  if (body.length === 0) throw new DataError(`${path}: no data rows (only a header line)`);
  return { path, format, header: (head.cells as string[]).map((h) => h.trim()), rows: body };
}

/** A single-column first row that contains the other format's delimiter is a wrong-format file. */
function checkDelimiter(path: string, format: 'csv' | 'tsv', first: string[], line: number): void {
  if (first.length !== 1) return;
  const cell = first[0];
  if (format === 'csv' && cell.includes('\t')) {
    throw new DataError(`${path}:${line}: one column found but the line contains tabs: this looks tab-separated (rename it to .tsv or set the format to tsv)`);
  }
  if (format === 'csv' && cell.includes(';')) {
    throw new DataError(`${path}:${line}: one column found but the line contains ';': semicolon-separated files are not supported (re-save it with commas)`);
  }
  if (format === 'tsv' && cell.includes(',')) {
    throw new DataError(`${path}:${line}: one column found but the line contains commas: this looks comma-separated (rename it to .csv or set the format to csv)`);
  }
}

function readJsonl(path: string, text: string, bareStrings: boolean): Table {
  const rows: TableRow[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${path}:${i + 1}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (bareStrings && typeof v === 'string') v = [v];
    if (v === null || typeof v !== 'object') throw new DataError(`${path}:${i + 1}: expected a JSON object or array, got ${v === null ? 'null' : typeof v}`);
    rows.push({ line: i + 1, cells: v as unknown[] | Record<string, unknown> });
  });
  const first = rows[0]?.cells;
  return { path, format: 'jsonl', header: first && !Array.isArray(first) ? Object.keys(first) : null, rows };
}

/**
 * A plain-text file as one text a line: every line counts (a blank line is an empty text) and
 * a final newline ends the last line rather than adding an empty one. CRLF is accepted.
 */
export function readLines(path: string): string[] {
  const lines = readFileChecked(path).split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The input format from the extension: .txt, else as formatFromPath. */
export function inputFormatFromPath(path: string): InputFormat {
  if (extname(path).toLowerCase() === '.txt') return 'txt';
  try {
    return formatFromPath(path);
  } catch {
    throw new DataError(`${path}: cannot tell the format from the extension '${extname(path) || '(none)'}' (use .csv, .tsv, .jsonl or .txt, or give --format)`);
  }
}

/**
 * Read a command's input the one way every command shares: a table (readTable, same format,
 * header and quoting rules as recipes) or, for txt, one row per line with the line as cell 0.
 */
export function readInput(path: string, opts: { format?: InputFormat; header?: boolean; bareStrings?: boolean } = {}): Table {
  const format = opts.format ?? inputFormatFromPath(path);
  if (format !== 'txt') return readTable(path, { format, header: opts.header, bareStrings: opts.bareStrings });
  return { path, format, header: null, rows: readLines(path).map((text, i) => ({ line: i + 1, cells: [text] })) };
}

/** Read a table; see the module comment for the formats and the checks. */
export function readTable(path: string, opts: ReadTableOptions = {}): Table {
  const format = opts.format ?? formatFromPath(path);
  const text = readFileChecked(path);
  return format === 'jsonl' ? readJsonl(path, text, opts.bareStrings ?? false) : readDelimited(path, text, format, opts.header ?? true);
}

/**
 * Turn a column reference into how to look it up in this table, or throw a DataError that
 * lists the available columns. Names need a header (csv/tsv) or objects (jsonl); indices
 * count from 0 in the header or the row.
 */
export function resolveColumn(table: Table, col: Column): string | number {
  if (typeof col === 'number') {
    if (!Number.isInteger(col) || col < 0) throw new DataError(`${table.path}: column index ${col} must be a whole number >= 0`);
    if (table.format === 'jsonl' && table.header) return table.header[col] ?? missing(table, col);
    return col;
  }
  if (table.format === 'jsonl') {
    if (table.header && !table.header.includes(col) && !table.rows.some((r) => !Array.isArray(r.cells) && col in r.cells)) missing(table, col);
    if (!table.header) throw new DataError(`${table.path}: column '${col}' given by name, but the rows are JSON arrays (give a 0-based index)`);
    return col;
  }
  if (!table.header) throw new DataError(`${table.path}: column '${col}' given by name, but the file is read without a header row (give a 0-based index)`);
  const i = table.header.indexOf(col);
  return i >= 0 ? i : missing(table, col);
}

function missing(table: Table, col: Column): never {
  const have = table.header ? table.header.map((h) => `'${h}'`).join(', ') : `${maxWidth(table)} unnamed columns`;
  throw new DataError(`${table.path}: missing column ${typeof col === 'number' ? col : `'${col}'`} (available: ${have})`);
}

function maxWidth(table: Table): number {
  return table.rows.reduce((m, r) => Math.max(m, Array.isArray(r.cells) ? r.cells.length : Object.keys(r.cells).length), 0);
}

/** The raw value of a resolved column in one row (undefined when the row is too short / lacks the key). */
export function cell(row: TableRow, key: string | number): unknown {
  if (Array.isArray(row.cells)) return typeof key === 'number' ? row.cells[key] : undefined;
  return typeof key === 'string' ? row.cells[key] : undefined;
}
