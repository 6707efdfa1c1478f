/**
 * Retrieval test collections in the BEIR layout (https://github.com/beir-cellar/beir):
 * corpus.jsonl ({_id, title?, text}), queries.jsonl ({_id, text}) and qrels/<split>.tsv
 * (header, then query-id, corpus-id, score; score > 0 means relevant).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataError } from '../errors.js';
import type { RetrievalData } from './retrieval-evaluator.js';

function jsonl(path: string): Array<{ line: number; row: Record<string, unknown> }> {
  if (!existsSync(path)) throw new DataError(`retrieval data: missing ${path}`);
  const out: Array<{ line: number; row: Record<string, unknown> }> = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      if (!l.trim()) return;
      try {
        out.push({ line: i + 1, row: JSON.parse(l) as Record<string, unknown> });
      } catch {
        throw new DataError(`${path}:${i + 1}: not valid JSON`);
      }
    });
  return out;
}

function texts(path: string, withTitle: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { line, row } of jsonl(path)) {
    const id = row._id ?? row.id;
    if (id === undefined || typeof row.text !== 'string') throw new DataError(`${path}:${line}: needs "_id" and "text"`);
    const title = withTitle && typeof row.title === 'string' && row.title ? `${row.title} ` : '';
    out[String(id)] = `${title}${row.text}`.trim();
  }
  return out;
}

export function readBeirFolder(dir: string, split = 'test'): RetrievalData {
  const corpus = texts(join(dir, 'corpus.jsonl'), true);
  const queries = texts(join(dir, 'queries.jsonl'), false);
  const qrelsPath = join(dir, 'qrels', `${split}.tsv`);
  if (!existsSync(qrelsPath)) throw new DataError(`retrieval data: missing ${qrelsPath}`);
  const relevant: Record<string, string[]> = {};
  readFileSync(qrelsPath, 'utf8')
    .split('\n')
    .forEach((l, i) => {
      const cols = l.replace(/\r$/, '').split('\t');
      if (!l.trim() || (i === 0 && Number.isNaN(Number(cols[2])))) return; // header
      if (cols.length < 3 || Number.isNaN(Number(cols[2]))) throw new DataError(`${qrelsPath}:${i + 1}: expected query-id, corpus-id, score`);
      if (!(cols[1] in corpus)) throw new DataError(`${qrelsPath}:${i + 1}: corpus id '${cols[1]}' is not in corpus.jsonl`);
      if (Number(cols[2]) > 0) (relevant[cols[0]] ??= []).push(cols[1]);
    });
  if (Object.keys(relevant).length === 0) throw new DataError(`${qrelsPath}: no relevance judgements`);
  return { queries, corpus, relevant };
}
