/**
 * Load labelled texts (one text column and a class label column) for text classification, with
 * the table reader every other command uses (./table.ts) and the row checks of ./pairs.ts: a
 * missing column, an empty text, a text that is not a string or a label that is neither a string
 * nor a number is a bad row, an error naming `file:line` places, or with `onBadRow: 'skip'`
 * dropped with a warning. Labels are kept as written (a number label `3` becomes the class "3").
 */
import { DataError } from '../errors.js';
import { cell, headerDefault, readTable, resolveColumn, type Column, type TableFormat } from './table.js';

export interface LabelledTexts {
  texts: string[];
  labels: string[];
  /** File line of each row (same order). */
  lines: number[];
  warnings: string[];
}

export interface LoadLabelledOptions {
  text: Column;
  label: Column;
  format?: TableFormat;
  header?: boolean;
  onBadRow?: 'error' | 'skip';
}

const MAX_LISTED = 5;

export function loadLabelledTexts(path: string, opts: LoadLabelledOptions): LabelledTexts {
  const table = readTable(path, { format: opts.format, header: opts.header ?? headerDefault([opts.text, opts.label]) });
  const textKey = resolveColumn(table, opts.text);
  const labelKey = resolveColumn(table, opts.label);
  const out: LabelledTexts = { texts: [], labels: [], lines: [], warnings: [] };
  const bad: string[] = [];
  for (const row of table.rows) {
    const t = cell(row, textKey);
    const l = cell(row, labelKey);
    let problem: string | null = null;
    if (t === undefined) problem = `missing column ${String(opts.text)}`;
    else if (typeof t !== 'string') problem = `${String(opts.text)} is not a text string`;
    else if (t.trim() === '') problem = `empty text in ${String(opts.text)}`;
    else if (l === undefined || l === null) problem = `missing column ${String(opts.label)}`;
    else if (typeof l !== 'string' && typeof l !== 'number') problem = `label in ${String(opts.label)} is not a string or number`;
    else if (String(l).trim() === '') problem = `empty label in ${String(opts.label)}`;
    if (problem !== null) {
      bad.push(`${path}:${row.line} (${problem})`);
      continue;
    }
    out.texts.push(t as string);
    out.labels.push(String(l).trim());
    out.lines.push(row.line);
  }
  if (bad.length > 0) {
    const listed = bad.slice(0, MAX_LISTED).join('; ') + (bad.length > MAX_LISTED ? `; ... ${bad.length - MAX_LISTED} more` : '');
    if ((opts.onBadRow ?? 'error') === 'error') throw new DataError(`${path}: ${bad.length} bad row${bad.length === 1 ? '' : 's'}: ${listed} (fix them, or set data.on_bad_row: skip)`);
    out.warnings.push(`${path}: skipped ${bad.length} bad row${bad.length === 1 ? '' : 's'} of ${table.rows.length} (first: ${bad[0]})`);
  }
  if (out.texts.length === 0) throw new DataError(`${path}: no usable rows`);
  return out;
}

/** Labels in a stable order: numerically when every label is a number, else by string. */
export function sortLabels(labels: Iterable<string>): string[] {
  const u = [...new Set(labels)];
  const numeric = u.every((l) => /^[+-]?\d+(\.\d+)?$/.test(l));
  return numeric ? u.sort((a, b) => Number(a) - Number(b)) : u.sort();
}
