/**
 * Read a corpus to index: .csv / .tsv (header row), .jsonl (one object a line) or .txt (one
 * text a line). A small reader local to search; the generic table readers in src/data/ can
 * replace it once they exist.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { DataError, UserError } from '../errors.js';
import type { Item } from './hnsw-index.js';

export const CORPUS_FORMATS = ['csv', 'tsv', 'jsonl', 'txt'] as const;
export type CorpusFormat = (typeof CORPUS_FORMATS)[number];

export interface CorpusOptions {
  /** Column holding the text (ignored for .txt). */
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

export function corpusFormat(path: string): CorpusFormat {
  const ext = extname(path).slice(1).toLowerCase();
  if ((CORPUS_FORMATS as readonly string[]).includes(ext)) return ext as CorpusFormat;
  throw new UserError(`${path}: unknown corpus format '.${ext}'; use one of ${CORPUS_FORMATS.map((f) => '.' + f).join(', ')}`);
}

export function readCorpus(path: string, opts: CorpusOptions = {}): Corpus {
  if (!existsSync(path)) throw new UserError(`corpus file ${path} does not exist`);
  const format = corpusFormat(path);
  const content = readFileSync(path, 'utf8');
  const rows: { row: Record<string, unknown>; line: number }[] = [];
  if (format === 'txt') {
    if (opts.idColumn) throw new UserError('--id-column needs a table (.csv, .tsv, .jsonl), not a .txt file');
    content.split(/\r?\n/).forEach((text, i) => rows.push({ row: { text }, line: i + 1 }));
    if (rows.length && rows[rows.length - 1].row.text === '') rows.pop();
    return toItems(path, rows, { ...opts, textColumn: 'text' });
  }
  if (!opts.textColumn) throw new UserError(`${path}: give --text-column (the column holding the texts)`);
  if (format === 'jsonl') {
    content.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new DataError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new DataError(`${path}:${i + 1}: expected a JSON object`);
      rows.push({ row: o as Record<string, unknown>, line: i + 1 });
    });
  } else {
    let records: { record: Record<string, string>; info: { lines: number } }[];
    try {
      records = parse(content, {
        columns: true,
        bom: true,
        delimiter: format === 'tsv' ? '\t' : ',',
        relax_quotes: format === 'tsv',
        skip_empty_lines: true,
        info: true,
      }) as unknown as { record: Record<string, string>; info: { lines: number } }[];
    } catch (e) {
      throw new DataError(`${path}: ${(e as Error).message.split('\n')[0]}`);
    }
    for (const r of records) rows.push({ row: r.record, line: r.info.lines });
  }
  return toItems(path, rows, opts);
}

function toItems(path: string, rows: { row: Record<string, unknown>; line: number }[], opts: CorpusOptions): Corpus {
  const textColumn = opts.textColumn as string;
  const items: Item[] = [];
  const seen = new Map<string, number>();
  let skipped = 0;
  const columns = rows.length ? Object.keys(rows[0].row) : [];
  for (const { row, line } of rows) {
    if (!(textColumn in row)) {
      throw new DataError(`${path}:${line}: no column '${textColumn}' (columns: ${Object.keys(row).join(', ') || 'none'})`);
    }
    if (opts.idColumn && !(opts.idColumn in row)) {
      throw new DataError(`${path}:${line}: no id column '${opts.idColumn}' (columns: ${columns.join(', ')})`);
    }
    const rawText = row[textColumn];
    if (rawText !== null && rawText !== undefined && typeof rawText !== 'string') {
      throw new DataError(`${path}:${line}: column '${textColumn}' must hold text, got ${JSON.stringify(rawText).slice(0, 40)}`);
    }
    const text = (rawText ?? '').trim();
    if (!text) {
      skipped++;
      continue;
    }
    const id = opts.idColumn ? String(row[opts.idColumn] ?? '') : String((opts.firstId ?? 0) + items.length);
    if (!id) throw new DataError(`${path}:${line}: empty id in column '${opts.idColumn}'`);
    const first = seen.get(id);
    if (first !== undefined) throw new DataError(`${path}:${line}: duplicate id '${id}' (first at line ${first})`);
    seen.set(id, line);
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) if (k !== textColumn && k !== opts.idColumn) fields[k] = v;
    items.push(Object.keys(fields).length ? { id, text, fields } : { id, text });
  }
  return { items, skipped };
}
