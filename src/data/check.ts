/**
 * `sbert-train data check FILE...`: what is wrong with a data set before training on it.
 *
 *   empty texts       a text cell that is missing or only whitespace (a bad row for training)
 *   duplicates        rows repeated within a file: exactly, or after normalisation (Unicode
 *                     NFKC, lower case, whitespace collapsed, punctuation dropped; a two-text
 *                     row also matches its swapped pair, as a symmetric similarity sees them)
 *   leakage           rows (after normalisation) found in more than one file: a dev or test
 *                     pair also in train inflates every score measured on it. Texts shared across
 *                     files (in different pairs) are counted too, as information.
 *   labels            a histogram of the label column, per file (when --label is given)
 *   too long          texts over the model's max_seq_length tokens (with --model), which the
 *                     encoder truncates silently
 *
 * The split of each file is taken from its name (train / dev / valid / test), else the name is
 * its own split. Pure over tables; the command (src/cli/data.ts) prints the summary or JSON.
 */
import { basename } from 'node:path';
import { cell, headerDefault, readTable, resolveColumn, type Column, type TableFormat } from './table.js';

/** Places listed per finding; the rest are counted. */
export const MAX_EXAMPLES = 5;

export interface CheckOptions {
  /** Text columns (names or 0-based indices). */
  columns: Column[];
  label?: Column | null;
  format?: TableFormat;
  header?: boolean;
  /** Token count of a text (special tokens included), when a tokenizer is at hand. */
  tokenCount?: (text: string) => number;
  maxSeqLength?: number;
}

export interface FileCheck {
  file: string;
  split: string;
  rows: number;
  empty: { count: number; examples: string[] };
  duplicates: { exact: number; normalised: number; examples: Array<{ at: string; first: string; kind: 'exact' | 'normalised' }> };
  labels: Record<string, number> | null;
  tooLong: { count: number; longest: number; examples: Array<{ at: string; tokens: number }> } | null;
}

export interface CheckReport {
  files: FileCheck[];
  leakage: { rows: number; sharedTexts: number; examples: Array<{ texts: string[]; places: string[] }> };
  maxSeqLength: number | null;
  notes: string[];
}

/** The normal form duplicates and leakage are found by. */
export function normaliseText(s: string): string {
  return s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** A row's identity after normalisation: two-text rows compare as unordered pairs. */
export function rowKey(texts: readonly string[]): string {
  const n = texts.map(normaliseText);
  return JSON.stringify(n.length === 2 ? [...n].sort() : n);
}

/** train / dev / test from a file name (valid and validation count as dev), else the name itself. */
export function splitOf(file: string): string {
  const name = basename(file).toLowerCase();
  if (/(^|[^a-z])train/.test(name)) return 'train';
  if (/(^|[^a-z])(dev|valid|validation|val)([^a-z]|$)/.test(name)) return 'dev';
  if (/(^|[^a-z])test/.test(name)) return 'test';
  return basename(file);
}

interface Row {
  at: string;
  texts: string[];
}

export function checkFiles(files: readonly string[], opts: CheckOptions): CheckReport {
  const notes: string[] = [];
  const checks: FileCheck[] = [];
  const rowsByFile: Row[][] = [];
  for (const file of files) {
    const { check, rows } = checkFile(file, opts);
    checks.push(check);
    rowsByFile.push(rows);
  }
  if (!opts.tokenCount) notes.push('token lengths not checked: give --model to count tokens with its tokenizer');
  const splits = new Set(checks.map((c) => c.split));
  if (splits.size < checks.length) notes.push(`two files share a split name (${checks.map((c) => `${basename(c.file)}: ${c.split}`).join(', ')}); leakage is checked between files`);
  return { files: checks, leakage: leakage(rowsByFile), maxSeqLength: opts.tokenCount ? (opts.maxSeqLength ?? null) : null, notes };
}

function checkFile(file: string, opts: CheckOptions): { check: FileCheck; rows: Row[] } {
  const label = opts.label ?? null;
  const table = readTable(file, { format: opts.format, header: opts.header ?? headerDefault([...opts.columns, label]) });
  const keys = opts.columns.map((c) => resolveColumn(table, c));
  const labelKey = label === null ? null : resolveColumn(table, label);
  const check: FileCheck = {
    file,
    split: splitOf(file),
    rows: table.rows.length,
    empty: { count: 0, examples: [] },
    duplicates: { exact: 0, normalised: 0, examples: [] },
    labels: labelKey === null ? null : {},
    tooLong: opts.tokenCount ? { count: 0, longest: 0, examples: [] } : null,
  };
  const exact = new Map<string, string>();
  const normal = new Map<string, string>();
  const rows: Row[] = [];
  for (const row of table.rows) {
    const at = `${file}:${row.line}`;
    const texts = keys.map((k) => cell(row, k));
    const emptyAt = texts.findIndex((t) => typeof t !== 'string' || t.trim() === '');
    if (labelKey !== null) {
      const l = cell(row, labelKey);
      const name = l === undefined || l === null || String(l).trim() === '' ? '(missing)' : String(l).trim();
      check.labels![name] = (check.labels![name] ?? 0) + 1;
    }
    if (emptyAt >= 0) {
      check.empty.count += 1;
      if (check.empty.examples.length < MAX_EXAMPLES) check.empty.examples.push(`${at} (${String(opts.columns[emptyAt])})`);
      continue;
    }
    const ts = texts as string[];
    if (check.tooLong) {
      for (const t of ts) {
        const n = opts.tokenCount!(t);
        check.tooLong.longest = Math.max(check.tooLong.longest, n);
        if (opts.maxSeqLength !== undefined && n > opts.maxSeqLength) {
          check.tooLong.count += 1;
          if (check.tooLong.examples.length < MAX_EXAMPLES) check.tooLong.examples.push({ at, tokens: n });
        }
      }
    }
    const ek = JSON.stringify(ts);
    const nk = rowKey(ts);
    const firstExact = exact.get(ek);
    const firstNormal = normal.get(nk);
    if (firstExact !== undefined) {
      check.duplicates.exact += 1;
      if (check.duplicates.examples.length < MAX_EXAMPLES) check.duplicates.examples.push({ at, first: firstExact, kind: 'exact' });
    } else if (firstNormal !== undefined) {
      check.duplicates.normalised += 1;
      if (check.duplicates.examples.length < MAX_EXAMPLES) check.duplicates.examples.push({ at, first: firstNormal, kind: 'normalised' });
    }
    if (firstExact === undefined) exact.set(ek, at);
    if (firstNormal === undefined) normal.set(nk, at);
    rows.push({ at, texts: ts });
  }
  return { check, rows };
}

/** Rows (normalised) in more than one file, and texts shared across files. */
function leakage(rowsByFile: Row[][]): CheckReport['leakage'] {
  const byKey = new Map<string, { texts: string[]; places: Map<number, string> }>();
  const textFiles = new Map<string, Set<number>>();
  rowsByFile.forEach((rows, f) => {
    for (const r of rows) {
      const k = rowKey(r.texts);
      const e = byKey.get(k) ?? { texts: r.texts, places: new Map<number, string>() };
      if (!e.places.has(f)) e.places.set(f, r.at);
      byKey.set(k, e);
      for (const t of r.texts) {
        const n = normaliseText(t);
        textFiles.set(n, (textFiles.get(n) ?? new Set()).add(f));
      }
    }
  });
  const leaked = [...byKey.values()].filter((e) => e.places.size > 1);
  return {
    rows: leaked.length,
    sharedTexts: [...textFiles.values()].filter((s) => s.size > 1).length,
    examples: leaked.slice(0, MAX_EXAMPLES).map((e) => ({ texts: e.texts, places: [...e.places.values()] })),
  };
}

/** The readable summary: one block per file, then leakage and notes. */
export function checkSummary(r: CheckReport): string {
  const out: string[] = [];
  for (const f of r.files) {
    out.push(`${f.file} (${f.split}): ${f.rows} rows`);
    out.push(`  empty texts: ${f.empty.count}${f.empty.examples.length ? ` (${f.empty.examples.join('; ')}${f.empty.count > f.empty.examples.length ? '; ...' : ''})` : ''}`);
    const d = f.duplicates;
    out.push(`  duplicates: ${d.exact} exact, ${d.normalised} after normalisation${d.examples.length ? ` (${d.examples.map((e) => `${e.at} = ${e.first}${e.kind === 'normalised' ? ' normalised' : ''}`).join('; ')}${d.exact + d.normalised > d.examples.length ? '; ...' : ''})` : ''}`);
    if (f.labels) {
      const total = Object.values(f.labels).reduce((a, v) => a + v, 0);
      const hist = Object.entries(f.labels).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      out.push(`  labels (${hist.length}): ${hist.map(([l, n]) => `${l} ${n} (${((100 * n) / total).toFixed(1)}%)`).join(', ')}`);
    }
    if (f.tooLong) {
      out.push(`  over ${r.maxSeqLength ?? '?'} tokens: ${f.tooLong.count} text(s)${f.tooLong.examples.length ? ` (${f.tooLong.examples.map((e) => `${e.at}: ${e.tokens}`).join('; ')}${f.tooLong.count > f.tooLong.examples.length ? '; ...' : ''})` : ''}; longest ${f.tooLong.longest}`);
    }
  }
  const l = r.leakage;
  if (r.files.length > 1) {
    out.push(`leakage: ${l.rows} row(s) in more than one file${l.examples.length ? ` (${l.examples.map((e) => e.places.join(' = ')).join('; ')}${l.rows > l.examples.length ? '; ...' : ''})` : ''}; ${l.sharedTexts} text(s) appear in more than one file`);
  } else {
    out.push('leakage: not checked (give the train, dev and test files together)');
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  return `${out.join('\n')}\n`;
}
