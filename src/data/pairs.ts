/**
 * Load training examples (2-3 texts, optional score) from a csv / tsv / jsonl file with a
 * column mapping, validating every row.
 *
 * A bad row (missing column, empty text, score that is not a number, NaN, or outside the
 * declared score range) is either an error — one line naming the first few `file:line`
 * places and the total count, so a wrong mapping is fixed in one go — or, with
 * `onBadRow: 'skip'`, dropped with a warning the caller prints.
 */
import { DataError } from '../errors.js';
import { cell, readTable, resolveColumn, type Column, type TableFormat } from './table.js';

export interface Example {
  /** Texts in loss order: anchor, positive[, negative]. */
  texts: string[];
  label?: number;
}

/** Recipe form: text columns in loss order plus an optional label column. */
export interface ColumnList {
  texts: Column[];
  label?: Column | null;
}
/** Named form: sentence1, sentence2[, negative] and an optional score column. */
export interface NamedColumns {
  sentence1: Column;
  sentence2: Column;
  negative?: Column;
  score?: Column;
}

/**
 * How raw scores become labels: `{from: [0, 5], to: [0, 1]}` maps linearly (scores outside
 * `from` are bad rows); a number divides (scores outside [0, number] are bad rows).
 */
export type ScoreScale = { from: [number, number]; to?: [number, number] } | number;

export interface LoadPairsOptions {
  columns?: ColumnList | NamedColumns;
  format?: TableFormat;
  /** csv/tsv header row; default: true when every column is given by name, else false. */
  header?: boolean;
  scoreScale?: ScoreScale | null;
  onBadRow?: 'error' | 'skip';
}

export interface LoadedPairs {
  examples: Example[];
  skipped: number;
  warnings: string[];
}

/** Bad-row places listed in an error message; the rest are counted. */
const MAX_LISTED = 5;

const DEFAULT_COLUMNS: ColumnList = { texts: ['sentence1', 'sentence2'], label: 'score' };

export function normalizeColumns(c: ColumnList | NamedColumns | undefined): ColumnList {
  if (!c) return DEFAULT_COLUMNS;
  if ('texts' in c) return { texts: c.texts, label: c.label ?? null };
  return { texts: [c.sentence1, c.sentence2, ...(c.negative !== undefined ? [c.negative] : [])], label: c.score ?? null };
}

function scaler(scale: ScoreScale | null | undefined): { apply: (v: number) => number; range: [number, number] | null } {
  if (scale === null || scale === undefined) return { apply: (v) => v, range: null };
  if (typeof scale === 'number') {
    if (!(scale > 0)) throw new DataError(`score scale: divide-by value must be > 0, got ${scale}`);
    return { apply: (v) => v / scale, range: [0, scale] };
  }
  const [a, b] = scale.from;
  const [c, d] = scale.to ?? [0, 1];
  if (!(a < b)) throw new DataError(`score scale: 'from' low must be below high, got [${a}, ${b}]`);
  return { apply: (v) => c + ((v - a) / (b - a)) * (d - c), range: [a, b] };
}

function parseNumber(raw: unknown): number {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'boolean') return raw ? 1 : 0;
  if (typeof raw !== 'string' || raw.trim() === '') return NaN;
  return Number(raw.trim());
}

export function loadPairs(path: string, opts: LoadPairsOptions = {}): LoadedPairs {
  const columns = normalizeColumns(opts.columns);
  const all = [...columns.texts, ...(columns.label !== null && columns.label !== undefined ? [columns.label] : [])];
  const header = opts.header ?? all.every((c) => typeof c === 'string');
  const table = readTable(path, { format: opts.format, header });
  const textKeys = columns.texts.map((c) => resolveColumn(table, c));
  const labelKey = columns.label !== null && columns.label !== undefined ? resolveColumn(table, columns.label) : null;
  const { apply, range } = scaler(opts.scoreScale);

  const examples: Example[] = [];
  const bad: string[] = [];
  for (const row of table.rows) {
    const problem = checkRow();
    if (problem) bad.push(`${path}:${row.line} (${problem})`);

    function checkRow(): string | null {
      const texts: string[] = [];
      for (const [i, key] of textKeys.entries()) {
        const v = cell(row, key);
        if (v === undefined || v === null) return `missing column ${String(columns.texts[i])}`;
        const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
        if (s.trim() === '') return `empty text in ${String(columns.texts[i])}`;
        texts.push(s);
      }
      if (labelKey === null) {
        examples.push({ texts });
        return null;
      }
      const raw = cell(row, labelKey);
      if (raw === undefined || raw === null) return `missing column ${String(columns.label)}`;
      const v = parseNumber(raw);
      if (!Number.isFinite(v)) return `score '${typeof raw === 'string' ? raw : JSON.stringify(raw)}' is not a number`;
      if (range && (v < range[0] || v > range[1])) return `score ${v} outside [${range[0]}, ${range[1]}]`;
      examples.push({ texts, label: apply(v) });
      return null;
    }
  }

  const warnings: string[] = [];
  if (bad.length > 0) {
    const listed = bad.slice(0, MAX_LISTED).join('; ');
    const more = bad.length > MAX_LISTED ? `; ... ${bad.length - MAX_LISTED} more` : '';
    if ((opts.onBadRow ?? 'error') === 'error') {
      throw new DataError(`${path}: ${bad.length} bad row${bad.length === 1 ? '' : 's'}: ${listed}${more} (fix them, or set data.on_bad_row: skip)`);
    }
    warnings.push(`${path}: skipped ${bad.length} bad row${bad.length === 1 ? '' : 's'} of ${table.rows.length} (first: ${bad[0]})`);
  }
  if (examples.length === 0) throw new DataError(`${path}: no usable rows`);
  return { examples, skipped: opts.onBadRow === 'skip' ? bad.length : 0, warnings };
}
