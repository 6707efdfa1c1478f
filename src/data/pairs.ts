/**
 * Load training examples (the loss's text columns, optional score) from a csv / tsv / jsonl file with a
 * column mapping, validating every row.
 *
 * A bad row (missing column, empty text, a text that is not a string (jsonl), a score that is
 * not a plain decimal number, or outside the declared score range) is either an error — one line naming the first few `file:line`
 * places and the total count, so a wrong mapping is fixed in one go — or, with
 * `onBadRow: 'skip'`, dropped with a warning the caller prints.
 */
import { DataError } from '../errors.js';
import { cell, headerDefault, readTable, resolveColumn, type Column, type TableFormat } from './table.js';

export interface Example {
  /** Texts in loss order: anchor, positive[, negatives...]. */
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
  /** The file line of each example (same order), for later checks that name `file:line`. */
  lines: number[];
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

/**
 * Decimal numbers only, with an optional exponent (`1e-05` is what Python writes for a small
 * float). `Number()` would also read `0x10` (16), `0b1`, `0o7` and `Infinity`: in a score
 * column those are typos or a wrong column, not scores.
 */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** The score a cell holds, or why it holds none. */
function parseScore(raw: unknown): number | { problem: string } {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : { problem: `score ${raw} is not a finite number` };
  const shown = typeof raw === 'string' ? raw : JSON.stringify(raw);
  if (typeof raw !== 'string' || !Number.isFinite(Number(raw.trim())) || raw.trim() === '') return { problem: `score '${shown}' is not a number` };
  if (!DECIMAL.test(raw.trim())) return { problem: `score '${shown}' is not a plain decimal number (write it like 0.75)` };
  return Number(raw.trim());
}

/** "a number (5)", "an object", ... for a text cell that is not a string. */
function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v} (${String(v)})`;
}

export function loadPairs(path: string, opts: LoadPairsOptions = {}): LoadedPairs {
  const columns = normalizeColumns(opts.columns);
  const all = [...columns.texts, ...(columns.label !== null && columns.label !== undefined ? [columns.label] : [])];
  const header = opts.header ?? headerDefault(all);
  const table = readTable(path, { format: opts.format, header });
  const textKeys = columns.texts.map((c) => resolveColumn(table, c));
  const labelKey = columns.label !== null && columns.label !== undefined ? resolveColumn(table, columns.label) : null;
  const { apply, range } = scaler(opts.scoreScale);

  const examples: Example[] = [];
  const lines: number[] = [];
  const bad: string[] = [];
  for (const row of table.rows) {
    const problem = checkRow();
    if (problem) bad.push(`${path}:${row.line} (${problem})`);

    function checkRow(): string | null {
      const texts: string[] = [];
      for (const [i, key] of textKeys.entries()) {
        const v = cell(row, key);
        if (v === undefined) return `missing column ${String(columns.texts[i])}`;
        // A jsonl number, boolean, object or null is not a text: stringified, it would train on "42" or "null".
        if (typeof v !== 'string') return `${String(columns.texts[i])} is ${jsonKind(v)}, not a text string`;
        if (v.trim() === '') return `empty text in ${String(columns.texts[i])}`;
        texts.push(v);
      }
      if (labelKey === null) {
        examples.push({ texts });
        lines.push(row.line);
        return null;
      }
      const raw = cell(row, labelKey);
      if (raw === undefined || raw === null) return `missing column ${String(columns.label)}`;
      const v = parseScore(raw);
      if (typeof v !== 'number') return v.problem;
      if (range && (v < range[0] || v > range[1])) return `score ${v} outside [${range[0]}, ${range[1]}]`;
      examples.push({ texts, label: apply(v) });
      lines.push(row.line);
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
  return { examples, lines, skipped: opts.onBadRow === 'skip' ? bad.length : 0, warnings };
}
