import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { readTexts, runEncode } from '../src/cli/encode.js';
import { DataError, UserError } from '../src/errors.js';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { encodeNpy, readNpy, writeNpy } from '../src/util/npy.js';
import { BIN, ROOT, SHARED, isOneLineUserError, runCli } from './helpers/cli.js';
import { TEST_BACKENDS } from './helpers/backends.js';

const dir = mkdtempSync(join(tmpdir(), 'encode-cli-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

const TEXTS = ['software developer', 'nurse', '', 'Grüße aus Köln, 東京 🚀', 'data "scientist", senior'];

// ---- npy format -------------------------------------------------------------------------

test('npy: header bytes follow NPY 1.0 with 64-byte alignment', () => {
  const bytes = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const headerLen = bytes[8] | (bytes[9] << 8);
  assert.equal((10 + headerLen) % 64, 0);
  const header = Buffer.from(bytes.subarray(10, 10 + headerLen)).toString('latin1');
  assert.equal(header, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".padEnd(headerLen - 1, ' ') + '\n');
  const data = Buffer.from(bytes.subarray(10 + headerLen));
  assert.equal(data.length, 24);
  assert.equal(data.readFloatLE(0), 1);
  assert.equal(data.readFloatLE(20), 6);
  // One dimension is a one-element tuple with a trailing comma, as Python writes it.
  const one = Buffer.from(encodeNpy(new Float32Array([7]), [1])).toString('latin1');
  assert.match(one, /'shape': \(1,\), \}/);
  assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), /holds 6 values, got 5/);
});

test('npy: write and read back; foreign dtypes are refused by the reader', () => {
  const p = join(dir, 'm.npy');
  const data = new Float32Array([0.5, -1.25, 3e-8, 1e30, -0, 7]);
  writeNpy(p, data, [3, 2]);
  const back = readNpy(p);
  assert.deepEqual(back.shape, [3, 2]);
  assert.deepEqual(Array.from(back.data), Array.from(data));
  const f8 = Buffer.from(encodeNpy(new Float32Array(2), [2]));
  f8.write("'<f8'", f8.indexOf("'<f4'"), 'latin1');
  writeFileSync(p, f8);
  assert.throws(() => readNpy(p), (e) => e instanceof DataError && /'<f4'/.test((e as Error).message));
});

// ---- input readers ----------------------------------------------------------------------

test('txt input: one text per line, blank lines kept, CRLF and a final newline handled', () => {
  assert.deepEqual(readTexts(file('a.txt', 'one\r\ntwo\r\n\r\nfour\n')), ['one', 'two', '', 'four']);
  assert.deepEqual(readTexts(file('b.txt', '\uFEFFno final newline')), ['no final newline']);
});

test('csv/tsv input: header row, quoted cells, column choice', () => {
  const csv = file('t.csv', 'id,text,label\n1,"hello, world",a\n2,"say ""hi""",b\n');
  assert.deepEqual(readTexts(csv), ['hello, world', 'say "hi"']);
  assert.deepEqual(readTexts(csv, { column: 'label' }), ['a', 'b']);
  assert.deepEqual(readTexts(file('one.csv', 'title\nnurse\ncook\n')), ['nurse', 'cook']);
  assert.deepEqual(readTexts(file('t.tsv', 'id\tsentence\n1\tfirst one\n2\tsecond, with comma\n')), ['first one', 'second, with comma']);
  assert.throws(
    () => readTexts(csv, { column: 'body' }),
    (e) => e instanceof DataError && (e as Error).message === `${csv}: missing column 'body' (available: 'id', 'text', 'label')`,
  );
  const ambiguous = file('amb.csv', 'a,b\nx,y\n');
  assert.throws(() => readTexts(ambiguous), (e) => e instanceof UserError && /has 2 columns \(a, b\); choose the text column with --column/.test((e as Error).message));
});

test('jsonl input: key by --column or default, bare strings, line-numbered errors', () => {
  const p = file('t.jsonl', '{"text": "a", "n": 1}\n\n{"text": "b\\nc", "n": 2}\n');
  assert.deepEqual(readTexts(p), ['a', 'b\nc']);
  assert.deepEqual(readTexts(file('s.jsonl', '"x"\n"y"\n')), ['x', 'y']);
  assert.deepEqual(readTexts(file('k.jsonl', '{"title": "q"}\n'), { column: 'title' }), ['q']);
  const bad = file('bad.jsonl', '{"text": "a"}\n{"text": \n');
  assert.throws(() => readTexts(bad), (e) => e instanceof DataError && (e as Error).message.startsWith(`${bad}:2: not valid JSON`));
  const missing = file('missing.jsonl', '{"text": "a"}\n{"title": "b"}\n');
  assert.throws(() => readTexts(missing), (e) => e instanceof DataError && (e as Error).message === `${missing}:2: column 'text' holds nothing, not a text`);
  const num = file('num.jsonl', '{"text": 5}\n');
  assert.throws(() => readTexts(num), (e) => e instanceof DataError && (e as Error).message === `${num}:1: column 'text' holds a number (5), not a text`);
});

test('input errors: missing, empty, unsupported type', () => {
  const none = join(dir, 'none.txt');
  assert.throws(() => readTexts(none), (e) => e instanceof DataError && (e as Error).message === `${none}: file not found`);
  assert.throws(() => readTexts(file('empty.txt', '')), (e) => e instanceof DataError && /empty file/.test((e as Error).message));
  assert.throws(() => readTexts(file('empty.csv', 'text\n')), (e) => e instanceof DataError && /no data rows/.test((e as Error).message));
  assert.throws(() => readTexts(file('x.parquet', 'PAR1')), (e) => e instanceof UserError && /cannot tell the format from the extension '.parquet'/.test((e as Error).message));
});

// ---- the command ------------------------------------------------------------------------

for (const backend of TEST_BACKENDS) test(`encode (${backend}) writes .npy rows in input order, equal to the in-process encoder`, async () => {
  const input = file('jobs.txt', TEXTS.join('\n') + '\n');
  const out = join(dir, `out-${backend}`, 'jobs.npy');
  const r = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', out, '--batch-size', '2', '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote 5 embeddings \(dim 128\)/);
  const { data, shape } = readNpy(out);
  assert.deepEqual(shape, [5, 128]);
  assert.deepEqual(readdirSync(join(dir, `out-${backend}`)), ['jobs.npy'], 'no temp files left behind');

  await initBackend(backend, { quiet: true });
  const before = tf.memory().numTensors;
  const enc = await loadEncoder('builtin:tiny');
  // One text at a time, so the reference has no batching or padding in common with the CLI run.
  for (let i = 0; i < TEXTS.length; i++) {
    const [row] = await enc.encode([TEXTS[i]], { batchSize: 1 });
    const got = data.subarray(i * 128, (i + 1) * 128);
    const maxDiff = Math.max(...Array.from(row, (v, j) => Math.abs(v - got[j])));
    assert.ok(maxDiff < 1e-5, `row ${i} ('${TEXTS[i]}') differs by ${maxDiff}`);
  }
  enc.dispose();
  assert.equal(tf.memory().numTensors, before, 'encoder leaked tensors');
});

for (const backend of TEST_BACKENDS) test(`encode (${backend}) --normalize writes unit-length .jsonl rows with their texts`, () => {
  const input = file('jobs.jsonl', TEXTS.map((t) => JSON.stringify({ id: 1, text: t })).join('\n'));
  const out = join(dir, `jobs.out-${backend}.jsonl`);
  const r = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', out, '--normalize', '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { text: string; embedding: number[] });
  assert.deepEqual(
    lines.map((l) => l.text),
    TEXTS,
  );
  for (const l of lines) {
    assert.equal(l.embedding.length, 128);
    const norm = Math.hypot(...l.embedding);
    assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
  }
});

test('encode refuses bad arguments, inputs and unknown models with one-line user errors', async () => {
  const input = file('ok.txt', 'a\nb\n');
  const base = { model: 'builtin:tiny', input, output: join(dir, 'o.npy'), 'batch-size': 32, normalize: false, backend: 'cpu' };
  const cases: [Partial<typeof base> & { column?: string }, RegExp][] = [
    [{ output: join(dir, 'o.csv') }, /unsupported output type '.csv'/],
    [{ output: join(dir, 'noext') }, /unsupported output type '\(no extension\)'/],
    [{ input: join(dir, 'absent.txt') }, /absent\.txt: file not found/],
    [{ input: file('e.txt', '') }, /empty file/],
    [{ input: file('c.csv', 'a,b\n1,2\n'), column: 'zzz' }, /missing column 'zzz' \(available: 'a', 'b'\)/],
    [{ 'batch-size': 0 }, /--batch-size must be a positive integer/],
    [{ model: 'builtin:nope' }, /unknown built-in model/],
  ];
  for (const [override, pattern] of cases) {
    await assert.rejects(runEncode({ ...base, ...override }), (e: unknown) => {
      assert.ok(e instanceof UserError, `${JSON.stringify(override)}: ${String(e)}`);
      assert.ok(!(e as Error).message.includes('\n'), 'one line');
      assert.match((e as Error).message, pattern);
      return true;
    });
  }
});

test('through the CLI, user errors are one line with exit code 2 (bad output type, broken model)', () => {
  const input = file('ok2.txt', 'a\nb\n');
  const r1 = runCli(['encode', '--model', 'builtin:tiny', '--input', input, '--output', join(dir, 'o.csv'), '--backend', 'cpu']);
  assert.ok(isOneLineUserError(r1), `${r1.code} ${r1.stderr}`);
  assert.match(r1.stderr, /unsupported output type '.csv'/);
  const broken = join(dir, 'broken-model');
  mkdirSync(broken, { recursive: true });
  writeFileSync(join(broken, 'config.json'), '{"model_type": "bert"');
  const r2 = runCli(['encode', '--model', broken, '--input', input, '--output', join(dir, 'o.npy'), '--backend', 'cpu']);
  assert.ok(isOneLineUserError(r2), `${r2.code} ${r2.stderr}`);
  assert.match(r2.stderr, /broken-model/);
});

test('encode refuses an --output that is the input file (same path, ./, a symlink), before loading the model', async () => {
  const content = TEXTS.map((t) => JSON.stringify({ text: t })).join('\n') + '\n';
  const input = file('self.jsonl', content);
  const link = join(dir, 'self-link.jsonl');
  symlinkSync(input, link);
  // builtin:nope would fail to load: the same-file refusal must come first.
  for (const output of [input, `${dir}/./self.jsonl`, `${dir}/../${basename(dir)}/self.jsonl`, link]) {
    await assert.rejects(runEncode({ model: 'builtin:nope', input, output, 'batch-size': 32, normalize: false, backend: 'cpu' }), (e: unknown) => {
      assert.ok(e instanceof UserError, `${output}: ${String(e)}`);
      assert.match((e as Error).message, /is the input file .*choose another output/, output);
      return true;
    });
  }
  const viaLink = runCli(['encode', '--model', 'builtin:tiny', '--input', link, '--output', input, '--backend', 'cpu']);
  assert.ok(isOneLineUserError(viaLink), `${viaLink.code} ${viaLink.stderr}`);
  assert.doesNotMatch(viaLink.stderr, /^backend:/m, 'refused before the backend and model were loaded');
  assert.equal(readFileSync(input, 'utf8'), content);
});

test('encode under a file-size limit (EFBIG): one line naming the output, exit 2, the previous output intact, no temp file', (t) => {
  if (spawnSync('prlimit', ['--version']).status !== 0) {
    t.skip('prlimit (util-linux) is not installed');
    return;
  }
  const input = file('limited.txt', TEXTS.join('\n') + '\n');
  const outDir = join(dir, 'limited');
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'emb.npy');
  const previous = Buffer.from('the previous output, kept');
  writeFileSync(out, previous);
  // 5 x 128 float32 is 2560 bytes of data: a 1000-byte limit cuts the write.
  const r = spawnSync('prlimit', ['--fsize=1000:1000', process.execPath, BIN, 'encode', '--model', 'builtin:tiny', '--input', input, '--output', out, '--backend', 'cpu'], {
    encoding: 'utf8',
    env: { ...process.env, SBERT_NO_PROGRESS: '1' },
    timeout: 120_000,
  });
  const res = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  assert.ok(isOneLineUserError(res), `${res.code} ${res.stderr}`);
  assert.ok(res.stderr.includes(`cannot write ${out}: `) && /\(EFBIG\)$/m.test(res.stderr), res.stderr);
  assert.deepEqual(readFileSync(out), previous);
  assert.deepEqual(readdirSync(outDir), ['emb.npy'], 'temp file left behind');
});

// ---- STS Benchmark layout: the reader recipes and `eval` use ------------------------------

const STS_FIXTURE = join(ROOT, 'test', 'fixtures', 'tables', 'sts-layout.csv');
const STS_COL5 = ['A chef slices "fresh" onions.', 'A lone quote " sits inside.', '"Maybe," she said, "we will see".'];

test('STS Benchmark layout (.csv named, tab-separated, no header, literal quotes, extra columns): --format tsv and a column index', () => {
  assert.deepEqual(readTexts(STS_FIXTURE, { format: 'tsv', column: 5 }), STS_COL5);
  assert.deepEqual(readTexts(STS_FIXTURE, { format: 'tsv', column: 6 })[2], 'She answered that they would see.');
  // An index means no header row; --header says otherwise (row 1 is then the names).
  assert.equal(readTexts(STS_FIXTURE, { format: 'tsv', column: 5, header: true }).length, 2);
  // Read as csv the tabs are caught before any quote error.
  assert.throws(() => readTexts(STS_FIXTURE, { column: 5 }), (e) => e instanceof DataError && /looks tab-separated.*format to tsv/.test((e as Error).message));
});

test('encode through the CLI reads the STS layout with --format tsv --column 5 (and sts-dev.csv from ../shared)', (t) => {
  const out = join(dir, 'sts.jsonl');
  const r = runCli(['encode', '--model', 'builtin:tiny', '--input', STS_FIXTURE, '--format', 'tsv', '--column', '5', '--output', out, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  const texts = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
  assert.deepEqual(texts, STS_COL5);
  const bad = runCli(['encode', '--model', 'builtin:tiny', '--input', STS_FIXTURE, '--format', 'xlsx', '--output', out, '--backend', 'cpu']);
  assert.ok(isOneLineUserError(bad), `${bad.code} ${bad.stderr}`);
  if (!SHARED) return t.skip('../shared absent: sts-dev.csv not checked');
  const dev = join(SHARED, 'datasets', 'stsb', 'sts-dev.csv');
  const want = readFileSync(dev, 'utf8').trimEnd().split('\n').map((l) => l.split('\t')[5]);
  assert.deepEqual(readTexts(dev, { format: 'tsv', column: 5 }), want);
  assert.equal(want.length, 1500);
});
