/**
 * `sbert-train data augment`: EDA-style text augmentation of a training file (Wei & Zou 2019,
 * "EDA: Easy Data Augmentation Techniques for Boosting Performance on Text Classification Tasks",
 * https://arxiv.org/abs/1901.11196), seeded, so the same input, options and seed always give
 * the same file. Operations on the whitespace-separated words of a text, with n = max(1,
 * round(alpha x words)):
 *
 *   swap      swap two random words, n times
 *   delete    drop each word with probability alpha (one word always stays)
 *   synonym   replace up to n words that have synonyms with a random other member of their
 *             group, from a user-given synonym file (one group a line: `car, automobile, auto`;
 *             commas or tabs; single words; matched case-insensitively)
 *
 * Each augmented copy of a row applies one operation (drawn per copy) to every augmented text
 * column; the other columns (label, score, ids) are copied unchanged. A copy equal to its row or
 * to an earlier copy is dropped. Only training data is augmented: a file named as a dev or test
 * split is refused (an augmented evaluation set measures nothing), and the output is a new file.
 */
import { existsSync } from 'node:fs';
import seedrandom from 'seedrandom';
import { DataError, UserError } from '../errors.js';
import { sameFile, writeFileAtomic } from '../util/fs.js';
import { csvField } from './csv-write.js';
import { splitOf } from './check.js';
import { cell, formatFromPath, headerDefault, readLines, readTable, resolveColumn, type Column, type TableFormat, type TableRow } from './table.js';

export const AUGMENT_OPS = ['swap', 'delete', 'synonym'] as const;
export type AugmentOp = (typeof AUGMENT_OPS)[number];

export interface AugmentOptions {
  columns: Column[];
  ops: AugmentOp[];
  /** Share of words an operation changes (EDA's alpha). */
  alpha: number;
  /** Augmented copies per row. */
  perRow: number;
  seed: number;
  /** word (lower case) -> its synonym group, from readSynonyms. */
  synonyms?: Map<string, string[]>;
  /** Keep the original rows in the output (default true). */
  keepOriginals?: boolean;
  format?: TableFormat;
  header?: boolean;
}

/** Read a synonym file: one group a line, comma- or tab-separated; `#` starts a comment. */
export function readSynonyms(path: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  readLines(path).forEach((line, i) => {
    const body = line.replace(/#.*/, '').trim();
    if (body === '') return;
    const words = [...new Set(body.split(/[,\t]/).map((w) => w.trim().toLowerCase()).filter(Boolean))];
    if (words.some((w) => /\s/.test(w))) throw new DataError(`${path}:${i + 1}: synonyms must be single words, got '${words.find((w) => /\s/.test(w))}'`);
    if (words.length < 2) throw new DataError(`${path}:${i + 1}: a synonym group needs at least two words`);
    for (const w of words) map.set(w, [...new Set([...(map.get(w) ?? []), ...words])]);
  });
  if (map.size === 0) throw new DataError(`${path}: no synonym groups found`);
  return map;
}

/** One EDA operation on one text. */
export function augmentText(text: string, op: AugmentOp, alpha: number, rng: () => number, synonyms?: Map<string, string[]>): string {
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length === 0) return text;
  const n = Math.max(1, Math.round(alpha * words.length));
  const int = (k: number) => Math.floor(rng() * k);
  switch (op) {
    case 'swap':
      for (let i = 0; i < n && words.length > 1; i++) {
        const a = int(words.length);
        const b = int(words.length);
        [words[a], words[b]] = [words[b], words[a]];
      }
      return words.join(' ');
    case 'delete': {
      if (words.length === 1) return text;
      const kept = words.filter(() => rng() >= alpha);
      return (kept.length ? kept : [words[int(words.length)]]).join(' ');
    }
    case 'synonym': {
      if (!synonyms) throw new Error('internal: synonym replacement without a synonym map');
      const candidates = words.map((w, i) => i).filter((i) => synonyms.has(bare(words[i]).toLowerCase()));
      for (let k = candidates.length - 1; k > 0; k--) {
        const j = int(k + 1);
        [candidates[k], candidates[j]] = [candidates[j], candidates[k]];
      }
      for (const i of candidates.slice(0, n)) {
        const w = words[i];
        const core = bare(w);
        const others = synonyms.get(core.toLowerCase())!.filter((s) => s !== core.toLowerCase());
        if (others.length === 0) continue;
        let s = others[int(others.length)];
        if (core[0] && core[0] !== core[0].toLowerCase()) s = s[0].toUpperCase() + s.slice(1);
        words[i] = w.replace(core, s);
      }
      return words.join(' ');
    }
  }
}

/** A word without leading / trailing punctuation ("engineer," -> "engineer"). */
function bare(w: string): string {
  return w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '') || w;
}

export interface AugmentResult {
  rows: number;
  added: number;
  byOp: Record<string, number>;
  format: TableFormat;
}

/** Augment `input` into `out` (a new file; `force` replaces a file there). */
export function augmentFile(input: string, out: string, opts: AugmentOptions, force = false): AugmentResult {
  const split = splitOf(input);
  if (split === 'dev' || split === 'test') {
    throw new UserError(`data augment: ${input} is named as a ${split} file; augment training data only (an augmented ${split} set measures the augmentation, not the model)`);
  }
  if (sameFile(input, out)) throw new UserError(`data augment: --out ${out} is the input file; write the augmented data to a new file`);
  if (existsSync(out) && !force) throw new UserError(`data augment: ${out} exists; pass --force to replace it`);
  if (opts.ops.includes('synonym') && !opts.synonyms) throw new UserError('data augment: --ops synonym needs --synonyms FILE (one group of synonyms a line)');
  if (!(opts.alpha > 0 && opts.alpha < 1)) throw new UserError(`data augment: --alpha must be between 0 and 1, got ${opts.alpha}`);
  const format = opts.format ?? formatFromPath(input);
  const outFormat = formatFromPath(out);
  if (outFormat !== format) throw new UserError(`data augment: --out must be a ${format} file like the input, got ${out}`);
  const header = opts.header ?? headerDefault(opts.columns);
  const table = readTable(input, { format, header });
  const keys = opts.columns.map((c) => resolveColumn(table, c));
  const rng = seedrandom(`augment:${opts.seed}`);
  const outRows: TableRow['cells'][] = [];
  const byOp: Record<string, number> = Object.fromEntries(opts.ops.map((o) => [o, 0]));
  let added = 0;
  for (const row of table.rows) {
    if (opts.keepOriginals ?? true) outRows.push(row.cells);
    const texts = keys.map((k) => cell(row, k));
    if (texts.some((t) => typeof t !== 'string' || t.trim() === '')) continue; // nothing to augment in a bad row; check it with `data check`
    const seen = new Set([JSON.stringify(texts)]);
    for (let c = 0; c < opts.perRow; c++) {
      const op = opts.ops[Math.floor(rng() * opts.ops.length)];
      const changed = texts.map((t) => augmentText(t as string, op, opts.alpha, rng, opts.synonyms));
      const k = JSON.stringify(changed);
      if (seen.has(k)) continue;
      seen.add(k);
      outRows.push(withTexts(row.cells, keys, changed));
      byOp[op] += 1;
      added += 1;
    }
  }
  writeFileAtomic(out, serialise(table.header, outRows, format, header));
  return { rows: table.rows.length, added, byOp, format };
}

function withTexts(cells: TableRow['cells'], keys: Array<string | number>, texts: string[]): TableRow['cells'] {
  if (Array.isArray(cells)) {
    const c = [...cells];
    keys.forEach((k, i) => (c[k as number] = texts[i]));
    return c;
  }
  const c = { ...cells };
  keys.forEach((k, i) => (c[k as string] = texts[i]));
  return c;
}

function serialise(head: string[] | null, rows: TableRow['cells'][], format: TableFormat, header: boolean): string {
  if (format === 'jsonl') return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const lines: string[] = [];
  if (format === 'csv') {
    if (header && head) lines.push(head.map(csvField).join(','));
    for (const r of rows) lines.push((r as unknown[]).map((v) => csvField(text(v))).join(','));
  } else {
    if (header && head) lines.push(head.join('\t'));
    for (const r of rows) lines.push((r as unknown[]).map(text).join('\t'));
  }
  return `${lines.join('\n')}\n`;
}
