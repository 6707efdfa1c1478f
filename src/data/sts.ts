/**
 * Readers for sentence-similarity (STS) pair data: the STS Benchmark tsv layout, JGLUE JSTS
 * json lines, and generic csv / tsv / jsonl files with a column mapping. Every reader returns
 * `StsPair[]` with the gold score as found in the file (0-5 for STSb and JSTS); Pearson and
 * Spearman do not care about the scale.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseCsv } from 'csv-parse/sync';
import { DataError, UserError } from '../errors.js';

export interface StsPair {
  sentence1: string;
  sentence2: string;
  score: number;
}

export type StsSplit = 'train' | 'dev' | 'test';

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function parseScore(raw: unknown, where: string): number {
  const v = typeof raw === 'number' ? raw : Number(String(raw ?? '').trim());
  if (raw === '' || raw === null || raw === undefined || !Number.isFinite(v)) {
    throw new DataError(`${where}: score '${String(raw)}' is not a number`);
  }
  return v;
}

function nonEmpty(pairs: StsPair[], path: string): StsPair[] {
  if (pairs.length === 0) throw new DataError(`${path}: no sentence pairs found`);
  return pairs;
}

/**
 * STS Benchmark (ixa2.si.ehu.eus/stswiki): tab-separated, no header, no quoting, columns
 * genre, file, year, id, score, sentence1, sentence2; some rows carry extra trailing columns
 * (sources), so only columns 4-6 (0-based) are read. Quotes are literal text.
 */
export function readStsbFile(path: string): StsPair[] {
  const pairs: StsPair[] = [];
  readText(path)
    .split('\n')
    .forEach((line, i) => {
      const row = line.replace(/\r$/, '');
      if (!row.trim()) return;
      const cols = row.split('\t');
      if (cols.length < 7) throw new DataError(`${path}:${i + 1}: expected at least 7 tab-separated columns (STS Benchmark layout), got ${cols.length}`);
      pairs.push({ sentence1: cols[5], sentence2: cols[6], score: parseScore(cols[4], `${path}:${i + 1}`) });
    });
  return nonEmpty(pairs, path);
}

export interface ColumnMapping {
  sentence1: string;
  sentence2: string;
  score: string;
}

const DEFAULT_MAPPING: ColumnMapping = { sentence1: 'sentence1', sentence2: 'sentence2', score: 'score' };

/** Column named `want`, or for the score column its common alias `label` (JSTS, GLUE). */
function pick(row: Record<string, unknown>, want: string, isScore: boolean): unknown {
  if (want in row) return row[want];
  if (isScore && want === 'score' && 'label' in row) return row.label;
  return undefined;
}

function fromRecord(row: Record<string, unknown>, map: ColumnMapping, where: string): StsPair {
  const s1 = pick(row, map.sentence1, false);
  const s2 = pick(row, map.sentence2, false);
  const sc = pick(row, map.score, true);
  for (const [field, v] of [
    [map.sentence1, s1],
    [map.sentence2, s2],
    [map.score, sc],
  ] as const) {
    if (v === undefined) throw new DataError(`${where}: missing column '${field}' (have: ${Object.keys(row).join(', ')})`);
  }
  return { sentence1: String(s1), sentence2: String(s2), score: parseScore(sc, where) };
}

/** JSON lines, one object per line (JSTS: sentence1, sentence2, label). */
export function readJsonlPairs(path: string, mapping: Partial<ColumnMapping> = {}): StsPair[] {
  const map = { ...DEFAULT_MAPPING, ...mapping };
  const pairs: StsPair[] = [];
  readText(path)
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch {
        throw new DataError(`${path}:${i + 1}: not valid JSON`);
      }
      if (!row || typeof row !== 'object' || Array.isArray(row)) throw new DataError(`${path}:${i + 1}: expected a JSON object`);
      pairs.push(fromRecord(row as Record<string, unknown>, map, `${path}:${i + 1}`));
    });
  return nonEmpty(pairs, path);
}

/** JGLUE JSTS v1.3 json lines (sentence1, sentence2, label 0-5). */
export function readJstsFile(path: string): StsPair[] {
  return readJsonlPairs(path, { score: 'label' });
}

/** csv or tsv with a header row (RFC 4180 quoting), columns picked by `mapping`. */
export function readDelimitedPairs(path: string, mapping: Partial<ColumnMapping> = {}, delimiter = extname(path) === '.tsv' ? '\t' : ','): StsPair[] {
  const map = { ...DEFAULT_MAPPING, ...mapping };
  let rows: Record<string, string>[];
  try {
    // tsv follows IANA text/tab-separated-values: no quoting, a quote is literal text
    rows = parseCsv(readText(path), { columns: true, delimiter, quote: delimiter === '\t' ? false : '"', skip_empty_lines: true, relax_column_count: true, bom: true }) as Record<string, string>[];
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(`${path}: ${(e as Error).message.split('\n')[0]}`);
  }
  // +2: the header is line 1
  return nonEmpty(rows.map((r, i) => fromRecord(r, map, `${path}:${i + 2}`)), path);
}

/** Does the file look like the STS Benchmark layout (no header, >= 7 tab columns, numeric col 4)? */
function looksLikeStsb(path: string): boolean {
  const first = readText(path).split('\n', 1)[0] ?? '';
  const cols = first.split('\t');
  return cols.length >= 7 && cols[4].trim() !== '' && Number.isFinite(Number(cols[4]));
}

/**
 * Read any supported pair file, choosing the reader from its extension and content:
 * .jsonl / .json -> JSON lines; a headerless file with the STSb layout -> readStsbFile;
 * other .csv / .tsv -> header row + column mapping.
 */
export function readStsPairs(path: string, mapping: Partial<ColumnMapping> = {}): StsPair[] {
  if (!existsSync(path)) throw new DataError(`STS file not found: ${path}`);
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.json') return readJsonlPairs(path, mapping);
  if (looksLikeStsb(path)) return readStsbFile(path);
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return readDelimitedPairs(path, mapping, ext === '.csv' ? ',' : '\t');
  throw new DataError(`${path}: unknown pair file type '${ext}' (use .csv, .tsv or .jsonl)`);
}

export interface LabelledPair {
  sentence1: string;
  sentence2: string;
  /** 1 = similar / duplicate, 0 = not (checked by the readers and the evaluator). */
  label: number;
}

/**
 * Pairs labelled 1 (similar / duplicate) or 0 for pair classification; columns sentence1,
 * sentence2, label unless mapped (`score` in the mapping names the label column).
 */
export function readLabelledPairs(path: string, mapping: Partial<ColumnMapping> = {}): LabelledPair[] {
  const rows = readStsPairs(path, { score: 'label', ...mapping });
  return rows.map((r, i) => {
    if (r.score !== 0 && r.score !== 1) throw new DataError(`${path}: pair ${i + 1}: label must be 0 or 1, got ${r.score}`);
    return { sentence1: r.sentence1, sentence2: r.sentence2, label: r.score };
  });
}

/**
 * Where ../shared lives: $SBERT_SHARED, else `shared/` beside the project root, else beside
 * the working directory.
 */
export function sharedDir(): string | null {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const candidates = [process.env.SBERT_SHARED, join(root, '..', 'shared'), resolve('..', 'shared')].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(p)) ?? null;
}

export interface ResolvedSts {
  /** Short name for reports: `stsb-test`, `jsts-valid`, or the file name. */
  name: string;
  path: string;
  pairs: StsPair[];
}

/**
 * Resolve `--sts` (a file, `stsb` or `jsts`) and `--split` to pairs. Named datasets are looked
 * up under shared/datasets; when absent the error says exactly which files to put where.
 * JSTS publishes no test labels, so its valid file serves both dev and test.
 */
export function loadSts(spec: string, split: StsSplit = 'test', mapping: Partial<ColumnMapping> = {}): ResolvedSts {
  if (spec === 'stsb' || spec === 'jsts') {
    const base = sharedDir();
    const dir = join(base ?? resolve('..', 'shared'), 'datasets', spec);
    const file = spec === 'stsb' ? `sts-${split}.csv` : split === 'train' ? 'train-v1.3.json' : 'valid-v1.3.json';
    const path = join(dir, file);
    if (!existsSync(path)) {
      const source = spec === 'stsb' ? 'Stsbenchmark.tar.gz from ixa2.si.ehu.eus/stswiki' : 'JGLUE (github.com/yahoojapan/JGLUE, datasets/jsts-v1.3)';
      throw new UserError(`${spec} ${split} split not found: put ${file} (${source}) at ${path}, or set SBERT_SHARED to the folder holding datasets/${spec}/`);
    }
    const pairs = spec === 'stsb' ? readStsbFile(path) : readJstsFile(path);
    return { name: `${spec}-${spec === 'jsts' && split !== 'train' ? 'valid' : split}`, path, pairs };
  }
  return { name: basename(spec).replace(/\.[^.]+$/, ''), path: spec, pairs: readStsPairs(spec, mapping) };
}
