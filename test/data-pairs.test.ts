/**
 * readTable and loadPairs: formats, line numbers, the file-level checks (empty, invalid
 * UTF-8, wrong delimiter, missing columns) and bad-row handling (error lists the first five
 * file:line places and the count on one line; skip returns a warning).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTable } from '../src/data/table.js';
import { loadPairs } from '../src/data/pairs.js';
import { DataError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sbert-data-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function dataError(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `message must be one line: ${e.message}`);
    assert.match(e.message, re);
    return true;
  };
}

describe('readTable', () => {
  test('csv with a header, quoted multi-line field: rows keep their starting line', () => {
    const p = file('a.csv', 'sentence1,sentence2,score\n\n"a, b","multi\nline",1\nc,d,0.5\n');
    const t = readTable(p);
    assert.deepEqual(t.header, ['sentence1', 'sentence2', 'score']);
    assert.deepEqual(
      t.rows.map((r) => [r.line, r.cells]),
      [
        [3, ['a, b', 'multi\nline', '1']],
        [5, ['c', 'd', '0.5']],
      ],
    );
  });
  test('tsv: quotes are literal text; CRLF line ends; BOM stripped', () => {
    const p = file('a.tsv', '\uFEFFs1\ts2\n"quoted" start\tend "x\r\n');
    const t = readTable(p);
    assert.deepEqual(t.header, ['s1', 's2']);
    assert.deepEqual(t.rows[0].cells, ['"quoted" start', 'end "x']);
    assert.equal(t.rows[0].line, 2);
  });
  test('jsonl objects and arrays, blank lines skipped, line numbers kept', () => {
    const t = readTable(file('a.jsonl', '{"a": "x", "b": 1}\n\n{"a": "y", "b": 2}\n'));
    assert.deepEqual(t.header, ['a', 'b']);
    assert.deepEqual(t.rows.map((r) => r.line), [1, 3]);
    assert.throws(() => readTable(file('bad.jsonl', '{"a": 1}\n{oops\n')), dataError(/bad\.jsonl:2: not valid JSON/));
    assert.throws(() => readTable(file('num.jsonl', '3\n')), dataError(/num\.jsonl:1: expected a JSON object or array/));
  });
  test('empty file, header only, missing file, unknown extension', () => {
    assert.throws(() => readTable(file('e.csv', '')), dataError(/e\.csv: empty file/));
    assert.throws(() => readTable(file('ws.csv', '\n  \n')), dataError(/ws\.csv: empty file/));
    assert.throws(() => readTable(file('h.csv', 'a,b\n')), dataError(/h\.csv: no data rows/));
    assert.throws(() => readTable(join(dir, 'nope.csv')), dataError(/nope\.csv: file not found/));
    assert.throws(() => readTable(file('x.xlsx', 'a')), dataError(/use \.csv, \.tsv or \.jsonl/));
  });
  test('invalid UTF-8 names the line', () => {
    const p = file('latin1.csv', Buffer.concat([Buffer.from('a,b\nok,fine\ncaf'), Buffer.from([0xe9]), Buffer.from(',x\n')]));
    assert.throws(() => readTable(p), dataError(/latin1\.csv:3: not valid UTF-8/));
  });
  test('wrong delimiter: a .csv with tabs, a .tsv with commas', () => {
    assert.throws(() => readTable(file('tabs.csv', 's1\ts2\tscore\na\tb\t1\n')), dataError(/tabs\.csv:1: one column found but the line contains tabs/));
    assert.throws(() => readTable(file('commas.tsv', 's1,s2,score\na,b,1\n')), dataError(/commas\.tsv:1: .*looks comma-separated/));
  });
  test('unclosed quote -> parse error with a line', () => {
    assert.throws(() => readTable(file('q.csv', 'a,b\n1,"x\n2,3\n')), dataError(/q\.csv:\d+: csv parse error/));
  });
});

describe('loadPairs', () => {
  test('default columns sentence1, sentence2, score; score scale [0, 5] -> [0, 1]', () => {
    const p = file('sts.csv', 'sentence1,sentence2,score\nA man,A person,5\nA cat,A dog,2.5\n');
    const r = loadPairs(p, { scoreScale: { from: [0, 5], to: [0, 1] } });
    assert.deepEqual(r.examples, [
      { texts: ['A man', 'A person'], label: 1 },
      { texts: ['A cat', 'A dog'], label: 0.5 },
    ]);
    assert.equal(r.skipped, 0);
    assert.deepEqual(r.warnings, []);
  });
  test('divide-by scale, named columns with a negative, jsonl', () => {
    const p = file('nli.jsonl', '{"q": "a", "pos": "b", "neg": "c", "s": 4}\n');
    const r = loadPairs(p, { columns: { sentence1: 'q', sentence2: 'pos', negative: 'neg', score: 's' }, scoreScale: 5 });
    assert.deepEqual(r.examples, [{ texts: ['a', 'b', 'c'], label: 0.8 }]);
  });
  test('columns by index read a headerless tsv; no label column -> no labels', () => {
    const p = file('pairs.tsv', 'x\ty\tz\nu\tv\tw\n');
    const r = loadPairs(p, { columns: { texts: [2, 0], label: null } });
    assert.deepEqual(r.examples, [{ texts: ['z', 'x'] }, { texts: ['w', 'u'] }]);
  });
  test('missing column lists the available ones', () => {
    const p = file('cols.csv', 'text_a,text_b,label\nx,y,1\n');
    assert.throws(() => loadPairs(p), dataError(/cols\.csv: missing column 'sentence1' \(available: 'text_a', 'text_b', 'label'\)/));
  });
  test("bad rows with 'error': first five file:line places and the total, one line", () => {
    const lines = ['sentence1,sentence2,score', 'a,b,1', ',b,1', 'a,b,high', 'a,b,NaN', 'a,b,7', 'a', 'a,b,', 'ok,fine,0', 'a, ,2'];
    const p = file('bad.csv', lines.join('\n') + '\n');
    assert.throws(
      () => loadPairs(p, { scoreScale: { from: [0, 5] } }),
      dataError(
        /bad\.csv: 7 bad rows: .*bad\.csv:3 \(empty text in sentence1\); .*bad\.csv:4 \(score 'high' is not a number\); .*bad\.csv:5 \(score 'NaN' is not a number\); .*bad\.csv:6 \(score 7 outside \[0, 5\]\); .*bad\.csv:7 \(missing column sentence2\); \.\.\. 2 more/,
      ),
    );
  });
  test("bad rows with 'skip': kept rows, count, and a warning", () => {
    const p = file('skip.csv', 'sentence1,sentence2,score\na,b,1\na,b,x\nc,d,0\n');
    const r = loadPairs(p, { onBadRow: 'skip' });
    assert.deepEqual(r.examples, [
      { texts: ['a', 'b'], label: 1 },
      { texts: ['c', 'd'], label: 0 },
    ]);
    assert.equal(r.skipped, 1);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /skip\.csv: skipped 1 bad row of 3 \(first: .*skip\.csv:3/);
  });
  test('all rows bad with skip -> no usable rows error', () => {
    const p = file('allbad.csv', 'sentence1,sentence2,score\na,b,x\n');
    assert.throws(() => loadPairs(p, { onBadRow: 'skip' }), dataError(/allbad\.csv: no usable rows/));
  });
});
