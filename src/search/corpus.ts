/**
 * Read a corpus to index through the reader every command shares (src/data/table.ts, which
 * names file:line in its errors): csv / tsv / jsonl with the recipes' format, header,
 * column-by-index and quoting rules, or txt (one text a line).
 * Each item keeps the row's other columns as `fields`.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { DataError, UserError } from '../errors.js';
import { readInput, resolveColumn, cell, headerDefault, INPUT_FORMATS, type Column, type InputFormat } from '../data/index.js';
import type { Item } from './hnsw-index.js';

export const CORPUS_FORMATS = INPUT_FORMATS;
export type CorpusFormat = InputFormat;

export interface CorpusOptions {
  /** Column holding the text (tables only): a name, or a 0-based index. */
  textColumn?: Column;
  /** Column holding a unique id; default: the row's position plus `firstId`. */
  idColumn?: Column;
  /** Default: from the extension. */
  format?: CorpusFormat;
  /** csv/tsv header row; default: yes when the columns are given by name, no when by index. */
  header?: boolean;
  /** First default id (so `index add` continues after the existing labels). */
  firstId?: number;
}

export interface Corpus {
  items: Item[];
  /** Rows left out because their text was empty. */
  skipped: number;
}

interface RawRow {
  line: number;
  text: unknown;
  id?: unknown;
  fields: Record<string, unknown>;
}

export function corpusFormat(path: string): CorpusFormat {
  const ext = extname(path).slice(1).toLowerCase();
  if ((CORPUS_FORMATS as readonly string[]).includes(ext)) return ext as CorpusFormat;
  throw new UserError(`${path}: unknown corpus format '.${ext}'; use one of ${CORPUS_FORMATS.map((f) => '.' + f).join(', ')}`);
}

export function readCorpus(path: string, opts: CorpusOptions = {}): Corpus {
  if (!existsSync(path)) throw new UserError(`corpus file ${path} does not exist`);
  const format = opts.format ?? corpusFormat(path);
  if (format === 'txt') {
    if (opts.idColumn !== undefined) throw new UserError('--id-column needs a table (.csv, .tsv, .jsonl), not a .txt file');
    const table = readInput(path, { format });
    return toItems(path, table.rows.map((r) => ({ line: r.line, text: cell(r, 0), fields: {} })), opts);
  }
  if (opts.textColumn === undefined || opts.textColumn === '') throw new UserError(`${path}: give --text-column (the column holding the texts: a name, or a 0-based index)`);
  const table = readInput(path, { format, header: opts.header ?? headerDefault([opts.textColumn, opts.idColumn]) });
  const textKey = resolveColumn(table, opts.textColumn);
  const idKey = opts.idColumn === undefined ? undefined : resolveColumn(table, opts.idColumn);
  const header = table.header ?? [];
  const rows: RawRow[] = table.rows.map((r) => {
    const fields: Record<string, unknown> = {};
    if (Array.isArray(r.cells)) r.cells.forEach((v, i) => i !== textKey && i !== idKey && (fields[header[i] ?? String(i)] = v));
    else for (const [k, v] of Object.entries(r.cells)) if (k !== textKey && k !== idKey) fields[k] = v;
    return { line: r.line, text: cell(r, textKey), id: idKey === undefined ? undefined : cell(r, idKey), fields };
  });
  return toItems(path, rows, opts);
}

function toItems(path: string, rows: RawRow[], opts: CorpusOptions): Corpus {
  const items: Item[] = [];
  const seen = new Map<string, number>();
  let skipped = 0;
  for (const { line, text: rawText, id: rawId, fields } of rows) {
    if (rawText !== null && rawText !== undefined && typeof rawText !== 'string') {
      throw new DataError(`${path}:${line}: column '${opts.textColumn}' must hold text, got ${JSON.stringify(rawText).slice(0, 40)}`);
    }
    const text = (rawText ?? '').trim();
    if (!text) {
      skipped++;
      continue;
    }
    const id = opts.idColumn !== undefined ? (rawId === undefined || rawId === null ? '' : String(rawId).trim()) : String((opts.firstId ?? 0) + items.length);
    if (!id) throw new DataError(`${path}:${line}: empty id in column '${opts.idColumn}'`);
    const first = seen.get(id);
    if (first !== undefined) throw new DataError(`${path}:${line}: duplicate id '${id}' (first at line ${first})`);
    seen.set(id, line);
    items.push(Object.keys(fields).length ? { id, text, fields } : { id, text });
  }
  return { items, skipped };
}
