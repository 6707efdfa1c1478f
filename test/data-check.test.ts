/**
 * `data check` finds planted problems (exact and normalised duplicates, rows leaked across split
 * files, empty texts, labels, over-long texts) and `data augment` is deterministic under a seed,
 * changes only the text columns, and never touches evaluation files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import seedrandom from 'seedrandom';
import { checkFiles, checkSummary, normaliseText, splitOf } from '../src/data/check.js';
import { augmentFile, augmentText, readSynonyms, type AugmentOp } from '../src/data/augment.js';
import { UserError } from '../src/errors.js';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { isOneLineUserError, runCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbert-datacheck-'));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

// Planted: train line 4 repeats line 2 exactly; line 5 is line 3 in other case, spacing and
// punctuation; line 6 is line 2 swapped; line 7 has an empty sentence2. dev line 2 is train line 3
// (normalised), test line 3 is train line 2 exactly; test line 2 is clean.
const train = file('train.csv', 'sentence1,sentence2,score\nA cat sits.,A dog runs.,0.2\nThe sky is blue,Grass is green,0.1\nA cat sits.,A dog runs.,0.2\nthe SKY  is blue!,grass is green,0.1\nA dog runs.,A cat sits.,0.2\nnothing here, ,0.5\nHello there,General Kenobi,1\n');
const dev = file('dev.csv', 'sentence1,sentence2,score\nthe sky is blue,grass is green.,0.1\nA bird sings,A fish swims,0.4\n');
const testFile = file('test.csv', 'sentence1,sentence2,score\nRain falls,Sun shines,0.3\nA cat sits.,A dog runs.,0.2\n');
const clean = file('clean-dev.csv', 'sentence1,sentence2,score\nA bird sings,A fish swims,0.4\n');

test('normalisation and split names', () => {
  assert.equal(normaliseText('  The SKY\tis blue!! '), 'the sky is blue');
  assert.equal(normaliseText('Ｃａｆé'), 'café', 'NFKC folds full-width letters');
  assert.deepEqual(['train.csv', 'sts-dev.csv', 'valid.jsonl', 'test-2024.tsv', 'other.csv'].map(splitOf), ['train', 'dev', 'dev', 'test', 'other.csv']);
});

test('check finds the planted duplicates, empty text, leakage and label counts', () => {
  const r = checkFiles([train, dev, testFile], { columns: ['sentence1', 'sentence2'], label: 'score' });
  const [t, d, s] = r.files;
  assert.equal(t.rows, 7);
  assert.deepEqual(t.empty, { count: 1, examples: [`${train}:7 (sentence2)`] });
  assert.equal(t.duplicates.exact, 1);
  assert.equal(t.duplicates.normalised, 2, 'the re-cased line and the swapped pair');
  assert.deepEqual(
    t.duplicates.examples.map((e) => [e.at, e.first, e.kind]),
    [
      [`${train}:4`, `${train}:2`, 'exact'],
      [`${train}:5`, `${train}:3`, 'normalised'],
      [`${train}:6`, `${train}:2`, 'normalised'],
    ],
  );
  assert.deepEqual(t.labels, { '0.2': 3, '0.1': 2, '0.5': 1, '1': 1 });
  assert.equal(d.duplicates.exact + d.duplicates.normalised + s.duplicates.exact + s.duplicates.normalised, 0);
  assert.equal(r.leakage.rows, 2);
  assert.deepEqual(r.leakage.examples.map((e) => e.places).sort(), [
    [`${train}:2`, `${testFile}:3`],
    [`${train}:3`, `${dev}:2`],
  ].sort());
  assert.equal(t.tooLong, null);
  assert.match(r.notes.join(), /token lengths not checked/);
  assert.equal(checkFiles([train, clean], { columns: ['sentence1', 'sentence2'] }).leakage.rows, 0);
});

test('summary lines, and token lengths with a model tokenizer', async () => {
  const summary = checkSummary(checkFiles([train, dev, testFile], { columns: ['sentence1', 'sentence2'] }));
  assert.match(summary, /duplicates: 1 exact, 2 after normalisation/);
  assert.match(summary, /leakage: 2 row\(s\) in more than one file/);
  await initBackend('wasm', { quiet: true });
  const enc = await loadEncoder('builtin:tiny');
  const r = checkFiles([train], { columns: ['sentence1', 'sentence2'], tokenCount: (t) => enc.tokenizer.ids(t, Number.MAX_SAFE_INTEGER).ids.length, maxSeqLength: 6 });
  const tl = r.files[0].tooLong!;
  assert.ok(tl.count > 0 && tl.longest > 6, JSON.stringify(tl));
  assert.ok(tl.examples.every((e) => e.tokens > 6));
  assert.match(checkSummary(r), /over 6 tokens: \d+ text\(s\)/);
});

test('CLI: --json, --strict exits 1 on leakage only', () => {
  const strict = runCli(['data', 'check', train, dev, testFile, '--strict', '--json']);
  assert.equal(strict.code, 1);
  const json = JSON.parse(strict.stdout) as { leakage: { rows: number }; files: Array<{ split: string }> };
  assert.equal(json.leakage.rows, 2);
  assert.deepEqual(json.files.map((f) => f.split), ['train', 'dev', 'test']);
  assert.match(strict.stderr, /--strict: 2 row\(s\) appear in more than one file/);
  const ok = runCli(['data', 'check', train, clean, '--strict']);
  assert.equal(ok.code, 0, 'duplicates alone do not fail --strict');
  assert.match(ok.stdout, /leakage: 0 row\(s\)/);
  assert.throws(() => checkFiles([train], { columns: ['text'] }), /missing column 'text' \(available: 'sentence1', 'sentence2', 'score'\)/);
});

test('augment operations: swap keeps the words, delete keeps one at least, synonyms come from their group', () => {
  const rng = seedrandom('t');
  const s = 'one two three four five six seven eight nine ten';
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(augmentText(s, 'swap', 0.2, rng).split(' ').sort(), s.split(' ').sort());
    assert.ok(augmentText('lonely word', 'delete', 0.99, rng).split(' ').length >= 1);
  }
  const syn = readSynonyms(file('syn.txt', '# groups\ncar, automobile, auto\nbig\tlarge\n'));
  const out = augmentText('The big car, parked', 'synonym', 0.5, seedrandom('s'), syn);
  assert.match(out, /^The (large|big) (automobile|auto|car), parked$/);
  assert.notEqual(out, 'The big car, parked');
  assert.throws(() => readSynonyms(file('bad-syn.txt', 'lonely\n')), /bad-syn\.txt:1: a synonym group needs at least two words/);
});

test('CLI augment: same seed same file, another seed another file, labels kept, dev/test and overwrites refused', () => {
  const input = file('train-cls.csv', 'text,label\nThe big car is red and fast,a\nA small house by the lake,b\n"Large dogs, loud at night",c\n');
  const syn = file('syn2.txt', 'car, automobile\nbig, large\n');
  const args = (out: string, seed: number) => ['data', 'augment', input, '--out', out, '--columns', 'text', '--ops', 'swap,delete,synonym', '--synonyms', syn, '--per-row', '3', '--seed', String(seed)];
  const a = runCli(args(join(dir, 'a.csv'), 5));
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /wrote 3 rows and \d+ augmented copies/);
  const opts = (seed: number) => ({ columns: ['text'], ops: ['swap', 'delete', 'synonym'] as AugmentOp[], alpha: 0.1, perRow: 3, seed, synonyms: readSynonyms(syn) });
  augmentFile(input, join(dir, 'b.csv'), opts(5));
  augmentFile(input, join(dir, 'c.csv'), opts(6));
  const [A, B, C] = ['a.csv', 'b.csv', 'c.csv'].map((f) => readFileSync(join(dir, f), 'utf8'));
  assert.equal(A, B, 'same seed, same bytes');
  assert.notEqual(A, C, 'another seed, another file');
  const rows = A.trim().split('\n').slice(1);
  assert.ok(rows.length > 3);
  assert.deepEqual([...new Set(rows.map((r) => r.at(-1)))].sort(), ['a', 'b', 'c'], 'labels copied unchanged');
  assert.ok(rows.slice(0, 2).every((r, i) => r === A.split('\n')[i + 1]), 'the original rows come first');
  const again = runCli(args(join(dir, 'a.csv'), 5));
  assert.ok(isOneLineUserError(again));
  assert.match(again.stderr, /a\.csv exists; pass --force/);
  const base = { ...opts(1), ops: ['swap'] as AugmentOp[], synonyms: undefined };
  assert.throws(() => augmentFile(dev, join(dir, 'dev-aug.csv'), { ...base, columns: ['sentence1', 'sentence2'] }), (e: Error) => e instanceof UserError && /named as a dev file; augment training data only/.test(e.message));
  assert.throws(() => augmentFile(testFile, join(dir, 'test-aug.csv'), { ...base, columns: ['sentence1', 'sentence2'] }), /named as a test file/);
  assert.ok(!existsSync(join(dir, 'dev-aug.csv')) && !existsSync(join(dir, 'test-aug.csv')));
  assert.throws(() => augmentFile(input, input, base, true), /is the input file/);
  // A hard link to the input is the input too (a realpath comparison missed it).
  linkSync(input, join(dir, 'input-link.csv'));
  assert.throws(() => augmentFile(input, join(dir, 'input-link.csv'), base, true), /is the input file/);
  assert.throws(() => augmentFile(input, join(dir, 'x.csv'), { ...base, ops: ['synonym'] }), /--ops synonym needs --synonyms FILE/);
});
