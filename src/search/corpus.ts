/**
 * Read a corpus to index: .csv / .tsv (header row) / .jsonl through the shared table reader
 * (src/data/table.ts, which names file:line in its errors), or .txt (one text a line).
 * Each item keeps the row's other columns as `fields`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { DataError, UserError } from '../errors.js';
import { readTable, resolveColumn, cell } from '../data/index.js';
import type { Item } from './hnsw-index.js';

export const CORPUS_FORMATS = ['csv', 'tsv', 'jsonl', 'txt'] as const;
export type CorpusFormat = (typeof CORPUS_FORMATS)[number];

export interface CorpusOptions {
  /** Column holding the text (tables only). */
  textColumn?: string;
  /** Column holding a unique id; default: the row's position plus `firstId`. */
  idColumn?: string;
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
  const format = corpusFormat(path);
  if (format === 'txt') {
    if (opts.idColumn) throw new UserError('--id-column needs a table (.csv, .tsv, .jsonl), not a .txt file');
    const lines = readFileSync(path, 'utf8').split(/\r?\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    return toItems(path, lines.map((text, i) => ({ line: i + 1, text, fields: {} })), opts);
  }
  if (!opts.textColumn) throw new UserError(`${path}: give --text-column (the column holding the texts)`);
  const table = readTable(path, { format });
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
    const id = opts.idColumn ? (rawId === undefined || rawId === null ? '' : String(rawId).trim()) : String((opts.firstId ?? 0) + items.length);
    if (!id) throw new DataError(`${path}:${line}: empty id in column '${opts.idColumn}'`);
    const first = seen.get(id);
    if (first !== undefined) throw new DataError(`${path}:${line}: duplicate id '${id}' (first at line ${first})`);
    seen.set(id, line);
    items.push(Object.keys(fields).length ? { id, text, fields } : { id, text });
  }
  return { items, skipped };
}
