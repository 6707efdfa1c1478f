/**
 * `sbert-train export onnx`: the folder it writes loads in transformers.js and onnxruntime and
 * gives our embeddings (every architecture and pooling mode, and the Python-made st-bert-mean
 * fixture), and --out is refused or replaced only as documented.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { EXPORT_MARKER, exportOnnx } from '../src/engine/onnx/export.js';
import { createSession, runEncoder } from '../src/engine/onnx/runtime.js';
import { makeModelFolder, type TestArch } from './helpers/models.js';
import { SHARED, isOneLineUserError, runCli, type CliResult } from './helpers/cli.js';
import { main } from '../src/cli/main.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-export-'));
const ARCHS: TestArch[] = ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'];
const ALL_POOLING = {
  pooling_mode_cls_token: true,
  pooling_mode_max_tokens: true,
  pooling_mode_mean_tokens: true,
  pooling_mode_mean_sqrt_len_tokens: true,
  pooling_mode_weightedmean_tokens: true,
  pooling_mode_lasttoken: true,
};
// Short enough that no text is truncated (the test models' byte tokenizer makes one token per
// byte, max 32): transformers.js cuts the closing [SEP] off when it truncates, Python
// tokenizers (and we) keep it.
const TEXTS = ['A man is playing a guitar.', '', 'registered nurse', 'Ünïcödé ✓', 'x'];
const TOL = 1e-4;

before(async () => {
  await initBackend('wasm', { quiet: true });
  env.allowRemoteModels = false;
  env.localModelPath = tmp;
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const flat = (rows: ArrayLike<number>[]) => Float32Array.from(rows.flatMap((r) => Array.from(r)));

const figures: string[] = [];
after(() => process.stdout.write(`max abs diff of exported models:\n${figures.map((f) => `  ${f}`).join('\n')}\n`));

/** transformers.js feature-extraction on an exported folder (by name under env.localModelPath). */
async function transformersJs(name: string, texts: string[], opts: { dtype?: 'fp32' | 'q8' } = {}): Promise<Float32Array> {
  const extractor = await pipeline('feature-extraction', name, { local_files_only: true, dtype: opts.dtype ?? 'fp32' });
  try {
    const out = await extractor(texts, { pooling: 'mean', normalize: true });
    assert.deepEqual(out.dims, [texts.length, (out.dims as number[])[1]]);
    return out.data as Float32Array;
  } finally {
    await extractor.dispose();
  }
}

for (const arch of ARCHS) {
  test(`${arch}: the exported folder's transformers.js mean+normalize pipeline and its sentence_embedding match our encoder to ${TOL}`, async () => {
    // mean pooling + Normalize: what transformers.js's own pooling can reproduce
    const src = join(tmp, `${arch}-mean-src`);
    makeModelFolder(src, { arch, seed: 11, normalize: true });
    const enc = await loadEncoder(src);
    const name = `${arch}-mean`;
    const r = await exportOnnx(enc, join(tmp, name));
    assert.ok(r.maxAbsDiff <= TOL);
    const ours = flat(await enc.encode(TEXTS));
    const tjs = await transformersJs(name, TEXTS);
    const dTjs = maxAbsDiff(tjs, ours);
    const session = await createSession(join(tmp, name, 'onnx', 'model.onnx'));
    const dOrt = maxAbsDiff((await runEncoder(session, enc.tokenize(TEXTS))).sentenceEmbedding, ours);
    await session.release();
    figures.push(`${arch} mean+Normalize: transformers.js ${dTjs.toExponential(2)}, onnxruntime sentence_embedding ${dOrt.toExponential(2)}`);
    assert.ok(dTjs <= TOL, `${arch}: transformers.js differs by ${dTjs}`);
    assert.ok(dOrt <= TOL, `${arch}: sentence_embedding differs by ${dOrt}`);
    enc.dispose();

    // every pooling mode + Dense + Normalize: only sentence_embedding carries those
    const src2 = join(tmp, `${arch}-all-src`);
    makeModelFolder(src2, { arch, seed: 12, pooling: ALL_POOLING, dense: { out: 10, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true });
    const enc2 = await loadEncoder(src2);
    const out2 = join(tmp, `${arch}-all`);
    await exportOnnx(enc2, out2);
    const s2 = await createSession(join(out2, 'onnx', 'model.onnx'));
    const texts2 = [...TEXTS, 'y'.repeat(200)]; // one truncated: our tokenizer feeds both sides
    const got = await runEncoder(s2, enc2.tokenize(texts2));
    await s2.release();
    assert.equal(got.dim, 10);
    const d2 = maxAbsDiff(got.sentenceEmbedding, flat(await enc2.encode(texts2)));
    figures.push(`${arch} all pooling modes+Dense+Normalize: onnxruntime sentence_embedding ${d2.toExponential(2)}`);
    assert.ok(d2 <= TOL, `${arch} all modes: sentence_embedding differs by ${d2}`);
    // the folder is also a sentence-transformers folder that loads back as the same model
    const again = await loadEncoder(out2);
    assert.equal(maxAbsDiff(flat(await again.encode(texts2)), flat(await enc2.encode(texts2))), 0);
    again.dispose();
    enc2.dispose();
  });
}

test('the st-bert-mean fixture (saved by Python sentence-transformers) exports through the CLI and reproduces expected.json', async (t) => {
  if (!SHARED) return t.skip('../shared absent: no st-bert-mean fixture');
  const fixture = join(SHARED, 'fixtures', 'st-bert-mean');
  const expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { sentences: string[]; embeddings: number[][] };
  const out = join(tmp, 'st-bert-mean');
  const r = runCli(['export', 'onnx', '--model', join(fixture, 'model'), '--out', out, '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*st-bert-mean: onnx\/model\.onnx .*sentence_embedding dim 48/);
  for (const f of ['onnx/model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json', EXPORT_MARKER]) {
    assert.ok(existsSync(join(out, f)), f);
  }
  // tokenised by the exported folder's own tokenizer files
  const enc = await loadEncoder(out);
  const session = await createSession(join(out, 'onnx', 'model.onnx'));
  const got = await runEncoder(session, enc.tokenize(expected.sentences));
  await session.release();
  const want = flat(expected.embeddings);
  const dOrt = maxAbsDiff(got.sentenceEmbedding, want);
  // transformers.js: the fixture's longest text is 400 characters of one word, a single [UNK]
  // token, so nothing is truncated and its pipeline sees the same ids.
  const dTjs = maxAbsDiff(await transformersJs('st-bert-mean', expected.sentences), want);
  figures.push(`st-bert-mean (${expected.sentences.length} sentences, vs Python): onnxruntime ${dOrt.toExponential(2)}, transformers.js ${dTjs.toExponential(2)}`);
  assert.ok(dOrt <= TOL, `onnxruntime differs from expected.json by ${dOrt}`);
  assert.ok(dTjs <= TOL, `transformers.js differs from expected.json by ${dTjs}`);
  enc.dispose();
});

/**
 * The CLI in this process (a spawned run spends seconds starting up). Only the CLI's text
 * writes are captured: the test runner's own reports (binary, on stdout) pass through, or a
 * neighbouring test's result would vanish.
 */
async function cli(args: string[]): Promise<CliResult> {
  const captured = { stdout: '', stderr: '' };
  const saved = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const stream of ['stdout', 'stderr'] as const) {
    const original = saved[stream].bind(process[stream]);
    process[stream].write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (typeof chunk !== 'string') return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      captured[stream] += chunk;
      return true;
    }) as typeof process.stdout.write;
  }
  try {
    const code = await main([...args, '--backend', 'wasm']);
    return { code, ...captured };
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
  }
}

test('--out that exists and is not empty is refused (one line, exit 2); --force replaces only an earlier export', async () => {
  const src = join(tmp, 'cli-src');
  makeModelFolder(src, { seed: 13 });
  const busy = join(tmp, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'notes.txt'), 'mine');
  const refused: [string[], RegExp][] = [
    [['--out', busy], /busy: exists and is not empty \(--force/],
    [['--out', busy, '--force'], /busy: --force replaces only a folder that 'sbert-train export onnx' wrote/],
    [['--out', join(busy, 'notes.txt')], /notes\.txt: exists and is not a folder/],
  ];
  for (const [args, message] of refused) {
    const r = await cli(['export', 'onnx', '--model', src, ...args]);
    assert.ok(isOneLineUserError(r), `${args.join(' ')}: ${r.code} ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.deepEqual(readdirSync(busy), ['notes.txt'], 'nothing written into the refused folder');
  }

  const out = join(tmp, 'forced');
  assert.equal((await cli(['export', 'onnx', '--model', src, '--out', out])).code, 0);
  writeFileSync(join(out, 'stale.txt'), 'from before');
  assert.ok(isOneLineUserError(await cli(['export', 'onnx', '--model', src, '--out', out])));
  const r = await cli(['export', 'onnx', '--model', src, '--out', out, '--force', '--quantize', 'int8']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /model_quantized\.onnx .*% of float; min cosine to float/);
  assert.ok(!existsSync(join(out, 'stale.txt')), 'the old folder was replaced, not merged');
  assert.ok(existsSync(join(out, 'onnx', 'model_quantized.onnx')));
  assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('.')), [], 'no temp folders left');

  assert.ok(isOneLineUserError(await cli(['export', 'onnx', '--model', src, '--out', join(tmp, 'q'), '--quantize', 'int4'])));
  assert.ok(isOneLineUserError(await cli(['export', 'tflite', '--model', src, '--out', join(tmp, 'q')])));
  assert.ok(!existsSync(join(tmp, 'q')));
});
