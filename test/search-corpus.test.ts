import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCorpus } from '../src/search/corpus.js';
import { DataError, UserError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sbert-corpus-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

test('csv: text, id and the other columns as fields; quoted commas and newlines survive', () => {
  const p = file('a.csv', 'id,label,group\nx1,"chef, head",7\nx2,"two\nlines",8\n');
  const c = readCorpus(p, { textColumn: 'label', idColumn: 'id' });
  assert.deepEqual(c.items, [
    { id: 'x1', text: 'chef, head', fields: { group: '7' } },
    { id: 'x2', text: 'two\nlines', fields: { group: '8' } },
  ]);
});

test('tsv and jsonl read the same way; default ids count from firstId', () => {
  const t = readCorpus(file('b.tsv', 'text\tlang\nhello\ten\nbonjour\tfr\n'), { textColumn: 'text', firstId: 5 });
  assert.deepEqual(t.items, [
    { id: '5', text: 'hello', fields: { lang: 'en' } },
    { id: '6', text: 'bonjour', fields: { lang: 'fr' } },
  ]);
  const j = readCorpus(file('c.jsonl', '{"t":"a","n":1}\n\n{"t":"b","n":2}\n'), { textColumn: 't' });
  assert.deepEqual(j.items, [
    { id: '0', text: 'a', fields: { n: 1 } },
    { id: '1', text: 'b', fields: { n: 2 } },
  ]);
});

test('txt: one text a line; empty texts are skipped and counted', () => {
  const c = readCorpus(file('d.txt', 'first\n\n  \nsecond\n'));
  assert.deepEqual(c.items, [
    { id: '0', text: 'first' },
    { id: '1', text: 'second' },
  ]);
  assert.equal(c.skipped, 2);
});

test('bad input: one-line errors that name the file and line or column', () => {
  assert.throws(() => readCorpus(file('e.csv', 'id,text\na,x\na,y\n'), { textColumn: 'text', idColumn: 'id' }), (e: unknown) => e instanceof DataError && /e\.csv:3: duplicate id 'a' \(first at line 2\)/.test(e.message));
  assert.throws(() => readCorpus(file('f.csv', 'id,text\na,x\n'), { textColumn: 'nope' }), (e: unknown) => e instanceof DataError && /f\.csv.*'nope'/.test(e.message));
  assert.throws(() => readCorpus(file('g.jsonl', '{"text": 5}\n'), { textColumn: 'text' }), (e: unknown) => e instanceof DataError && /g\.jsonl:1: column 'text' must hold text/.test(e.message));
  assert.throws(() => readCorpus(file('h.jsonl', '{"text": "a"}\n{oops\n'), { textColumn: 'text' }), (e: unknown) => e instanceof DataError && /h\.jsonl:2/.test(e.message));
  assert.throws(() => readCorpus(file('i.csv', 'id,text\na,x\n')), UserError);
  assert.throws(() => readCorpus(file('j.parquet', '')), /unknown corpus format/);
  assert.throws(() => readCorpus(join(dir, 'missing.csv'), { textColumn: 'text' }), /does not exist/);
  assert.throws(() => readCorpus(file('k.csv', 'id,text\n,x\n'), { textColumn: 'text', idColumn: 'id' }), /k\.csv:2: empty id/);
});
