/**
 * Evaluators built from data files: what `evaluation.evaluators` in a recipe (run at every
 * evaluation during training) and `sbert-train eval --triplets / --paraphrase` read. Each file
 * is read once, up front, with the same table reader as training data (src/data/pairs.ts), so a
 * bad file fails before any model loads; `run` then encodes and scores with the evaluator of
 * its type:
 *
 *   type               columns (texts ; label)                   evaluator
 *   sts                sentence1, sentence2 ; score               evaluateSts
 *   binary             sentence1, sentence2 ; 0/1 label           evaluateBinary
 *   retrieval          query, relevant document ; -               evaluateRetrieval (every document of the file is the corpus)
 *   triplet            anchor, positive, negative ; -             evaluateTriplets
 *   paraphrase_mining  sentence1, sentence2 ; 0/1 (1 = duplicate) evaluateParaphraseMining (every sentence of the file is mined)
 *
 * Metric keys are prefixed with the evaluator's name: `<name>_<metric>` (./metric-names.ts).
 */
import { DataError } from '../errors.js';
import { loadPairs, type Column, type Example, type TableFormat } from '../data/index.js';
import type { Encoder } from '../models/types.js';
import { evaluateBinary } from './binary-evaluator.js';
import { evaluateParaphraseMining } from './paraphrase-mining-evaluator.js';
import { evaluateRetrieval, type RetrievalData } from './retrieval-evaluator.js';
import { evaluateSts } from './sts-evaluator.js';
import { evaluateTriplets } from './triplet-evaluator.js';
import type { EvaluatorType } from './metric-names.js';
import type { EvaluationResult } from './types.js';

export interface FileEvaluatorSpec {
  type: EvaluatorType;
  file: string;
  name: string;
  columns: { texts: Column[]; label: Column | null };
  format?: TableFormat | null;
  header?: boolean | null;
  /** Where the spec came from, for messages (`evaluation.evaluators[0]`, `--triplets`). */
  where?: string;
}

export interface FileEvaluator {
  name: string;
  type: EvaluatorType;
  /** One line: what was read. */
  describe: string;
  run(encoder: Encoder, opts: { batchSize: number; progress?: boolean }): Promise<EvaluationResult>;
}

const LABELLED: ReadonlySet<EvaluatorType> = new Set(['sts', 'binary', 'paraphrase_mining']);

/** Read the file of one evaluator (every row checked) and return it ready to run. */
export function fileEvaluator(spec: FileEvaluatorSpec): FileEvaluator {
  const where = `${spec.where ? `${spec.where} ` : ''}${spec.file}`;
  const label = LABELLED.has(spec.type) ? spec.columns.label : null;
  const { examples, lines } = loadPairs(spec.file, {
    columns: { texts: spec.columns.texts, label },
    format: spec.format ?? undefined,
    header: spec.header ?? undefined,
    onBadRow: 'error',
  });
  if (examples.length < 2) throw new DataError(`${where}: ${examples.length} row${examples.length === 1 ? '' : 's'}; a ${spec.type} evaluation needs at least 2`);
  const { name, type } = spec;
  const rows = `${examples.length} rows (${spec.file})`;
  switch (type) {
    case 'sts': {
      const pairs = examples.map((e) => ({ sentence1: e.texts[0], sentence2: e.texts[1], score: e.label! }));
      if (pairs.every((p) => p.score === pairs[0].score)) throw new DataError(`${where}: scores have no variance (all ${pairs[0].score}); Pearson/Spearman are undefined`);
      return {
        name,
        type,
        describe: `${name}: sts, ${rows}`,
        run: async (enc, o) => {
          const { gold, cosine, ...result } = await evaluateSts(enc, pairs, { ...o, name });
          void gold;
          void cosine;
          return result;
        },
      };
    }
    case 'binary': {
      const pairs = binaryLabels(examples, lines, where, type).map((e) => ({ sentence1: e.texts[0], sentence2: e.texts[1], label: e.label! }));
      return { name, type, describe: `${name}: binary, ${rows}`, run: (enc, o) => evaluateBinary(enc, pairs, { ...o, name }) };
    }
    case 'paraphrase_mining': {
      const labelled = binaryLabels(examples, lines, where, type);
      const duplicates = labelled.filter((e) => e.label === 1).map((e) => [e.texts[0], e.texts[1]] as [string, string]);
      if (!duplicates.some(([a, b]) => a !== b)) throw new DataError(`${where}: no pair labelled 1 (duplicates) with two different sentences; paraphrase mining scores against them`);
      const sentences = [...new Set(labelled.flatMap((e) => e.texts))];
      return {
        name,
        type,
        describe: `${name}: paraphrase_mining, ${sentences.length} sentences, ${duplicates.length} duplicate pairs (${spec.file})`,
        run: (enc, o) => evaluateParaphraseMining(enc, { sentences, duplicates }, { ...o, name }),
      };
    }
    case 'retrieval': {
      const data = retrievalFromPairs(examples);
      return {
        name,
        type,
        describe: `${name}: retrieval, ${Object.keys(data.queries).length} queries, ${Object.keys(data.corpus).length} documents (${spec.file})`,
        run: (enc, o) => evaluateRetrieval(enc, data, { ...o, name }),
      };
    }
    case 'triplet': {
      const triplets = examples.map((e) => ({ anchor: e.texts[0], positive: e.texts[1], negative: e.texts[2] }));
      return { name, type, describe: `${name}: triplet, ${rows}`, run: (enc, o) => evaluateTriplets(enc, triplets, { ...o, name }) };
    }
  }
}

/** Labels must be 0 or 1, and both must occur for a binary evaluation. `lines`: each example's file line. */
function binaryLabels(examples: Example[], lines: readonly number[], where: string, type: EvaluatorType): Example[] {
  const bad = examples.findIndex((e) => e.label !== 0 && e.label !== 1);
  if (bad >= 0) throw new DataError(`${where}:${lines[bad]}: a ${type} evaluation needs labels 0 or 1, got ${examples[bad].label}`);
  if (type === 'binary' && !(examples.some((e) => e.label === 1) && examples.some((e) => e.label === 0))) throw new DataError(`${where}: pair classification needs both labels 0 and 1`);
  return examples;
}

/** (query, relevant document) rows as a retrieval set: each distinct text one id, every document in the corpus. */
export function retrievalFromPairs(examples: readonly Example[]): RetrievalData {
  const queries: Record<string, string> = {};
  const corpus: Record<string, string> = {};
  const relevant: Record<string, string[]> = {};
  const qid = new Map<string, string>();
  const did = new Map<string, string>();
  for (const e of examples) {
    const [q, d] = e.texts;
    if (!qid.has(q)) qid.set(q, `q${qid.size}`);
    if (!did.has(d)) did.set(d, `d${did.size}`);
    queries[qid.get(q)!] = q;
    corpus[did.get(d)!] = d;
    const rel = (relevant[qid.get(q)!] ??= []);
    if (!rel.includes(did.get(d)!)) rel.push(did.get(d)!);
  }
  return { queries, corpus, relevant };
}

/** Run every evaluator and merge their (name-prefixed) metrics. */
export async function runFileEvaluators(evaluators: readonly FileEvaluator[], encoder: Encoder, opts: { batchSize: number; progress?: boolean }): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of evaluators) Object.assign(out, (await e.run(encoder, { progress: false, ...opts })).metrics);
  return out;
}
