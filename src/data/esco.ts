/**
 * Scored job-title pairs from the ESCO occupations table (esco.ec.europa.eu; the
 * `occupations_en.csv` export: one row per occupation with `preferredLabel`, `altLabels`
 * (newline-separated synonyms) and `iscoGroup` (4-digit ISCO-08 unit group)).
 *
 * Pairs and their scores:
 * - similar, 1.0: an occupation's preferred label vs one of its alternative labels (at most
 *   `maxAltsPerOccupation` per occupation, sampled, so occupations with 80 synonyms do not
 *   dominate).
 * - related, 0.5 (`relatedScore`): a label of the occupation vs a label of another
 *   occupation in the same ISCO unit group (e.g. 2512 "software developers": "software
 *   developer" vs "mobile app developer") — same kind of work, different job.
 * - dissimilar, 0.0: a label vs a label of an occupation in another ISCO sub-major group
 *   (first two digits differ), so near neighbours such as 2511 vs 2512 are never called
 *   dissimilar.
 * For every similar pair one related and one dissimilar pair are drawn (when the unit group
 * has another occupation), giving about a 1:1:1 mix. Pairs are de-duplicated (case-insensitive,
 * either order), shuffled, and cut to `maxPairs`. Everything is drawn from one seeded
 * generator, so the same file and seed give the same pairs.
 */
import seedrandom from 'seedrandom';
import { DataError } from '../errors.js';
import { progressBar } from '../util/progress.js';
import { shuffleInPlace } from './batching.js';
import { writeCsvAtomic } from './csv-write.js';
import { cell, readTable } from './table.js';

export const ESCO_COLUMNS = ['preferredLabel', 'altLabels', 'iscoGroup'] as const;

export interface Occupation {
  preferred: string;
  alts: string[];
  /** ISCO-08 unit group, 4 digits (may be '' when the row has none). */
  group: string;
}

export interface EscoPairOptions {
  seed?: number;
  maxPairs?: number | null;
  maxAltsPerOccupation?: number;
  relatedScore?: number;
  /** Called with (done, total) occupations, for a progress bar. */
  onProgress?: (done: number, total: number) => void;
}

export interface ScoredPair {
  sentence1: string;
  sentence2: string;
  score: number;
}

/** Read occupations; missing columns are all named at once, with the available ones. */
export function readOccupations(path: string): Occupation[] {
  const table = readTable(path, { format: 'csv', header: true });
  const header = table.header ?? [];
  const missing = ESCO_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) {
    throw new DataError(`${path}: missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'`).join(', ')} (available: ${header.map((h) => `'${h}'`).join(', ')})`);
  }
  const [p, a, g] = ESCO_COLUMNS.map((c) => header.indexOf(c));
  const out: Occupation[] = [];
  for (const row of table.rows) {
    const preferred = String(cell(row, p) ?? '').trim();
    if (!preferred) continue; // a row without a title gives no pairs
    const alts = String(cell(row, a) ?? '')
      .split(/\r?\n/)
      .map((s) => s.replace(/\s+/g, ' ').trim())
      .filter((s) => s && s.toLowerCase() !== preferred.toLowerCase());
    out.push({ preferred, alts: [...new Set(alts)], group: String(cell(row, g) ?? '').trim() });
  }
  if (out.length === 0) throw new DataError(`${path}: no occupations with a preferredLabel`);
  return out;
}

export function escoPairs(occupations: readonly Occupation[], opts: EscoPairOptions = {}): ScoredPair[] {
  const rng = seedrandom(`esco-pairs:${opts.seed ?? 42}`);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
  const maxAlts = opts.maxAltsPerOccupation ?? 10;
  const related = opts.relatedScore ?? 0.5;

  const byGroup = new Map<string, number[]>();
  occupations.forEach((o, i) => {
    if (!o.group) return;
    const list = byGroup.get(o.group) ?? [];
    list.push(i);
    byGroup.set(o.group, list);
  });
  const withGroup = occupations.map((_, i) => i).filter((i) => occupations[i].group);
  const labels = (o: Occupation) => [o.preferred, ...o.alts];

  const seen = new Set<string>();
  const pairs: ScoredPair[] = [];
  const add = (s1: string, s2: string, score: number): void => {
    const a = s1.toLowerCase();
    const b = s2.toLowerCase();
    if (a === b) return;
    const key = a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
    if (seen.has(key)) return;
    seen.add(key);
    pairs.push({ sentence1: s1, sentence2: s2, score });
  };

  occupations.forEach((o, i) => {
    const alts = shuffleInPlace([...o.alts], rng).slice(0, maxAlts);
    for (const alt of alts) {
      add(o.preferred, alt, 1);
      const mates = o.group ? (byGroup.get(o.group) ?? []).filter((j) => j !== i) : [];
      if (mates.length) add(pick(labels(o)), pick(labels(occupations[pick(mates)])), related);
      if (o.group) {
        // a few tries to find another sub-major group (always succeeds on real ESCO data)
        for (let t = 0; t < 10; t++) {
          const j = pick(withGroup);
          if (occupations[j].group.slice(0, 2) !== o.group.slice(0, 2)) {
            add(pick(labels(o)), pick(labels(occupations[j])), 0);
            break;
          }
        }
      }
    }
    opts.onProgress?.(i + 1, occupations.length);
  });
  shuffleInPlace(pairs, rng);
  return opts.maxPairs ? pairs.slice(0, opts.maxPairs) : pairs;
}

/** Read, pair, and write `sentence1,sentence2,score` csv atomically; returns counts. */
export function writeEscoPairs(occupationsPath: string, outPath: string, opts: Omit<EscoPairOptions, 'onProgress'> = {}): { occupations: number; pairs: number; byScore: Record<string, number> } {
  const occupations = readOccupations(occupationsPath);
  const bar = occupations.length >= 500 ? progressBar('esco pairs', occupations.length, 'occupations') : null;
  const pairs = escoPairs(occupations, { ...opts, onProgress: bar ? (d) => bar.update(d) : undefined });
  bar?.stop();
  writeCsvAtomic(outPath, ['sentence1', 'sentence2', 'score'], pairs.map((p) => [p.sentence1, p.sentence2, p.score]));
  const byScore: Record<string, number> = {};
  for (const p of pairs) byScore[String(p.score)] = (byScore[String(p.score)] ?? 0) + 1;
  return { occupations: occupations.length, pairs: pairs.length, byScore };
}
