/**
 * The ONNX lowering (src/engine/onnx/encoder.ts) against the tfjs encoder (src/models), the
 * reference: every architecture and every pooling mode, Dense activations and Normalize, on
 * texts of different lengths padded into one batch. Any drift between the two definitions
 * fails here. Each case is checked twice: the graph in a session of its own (both outputs),
 * and `encode()` with the `onnx` backend (src/engine/onnx/inference.ts: the cached session,
 * batches of different lengths, Normalize on the host), both against tfjs on wasm.
 */
import { CONFIG_KEYS } from '../src/models/pooling.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tfjsBackend } from '../src/backend/index.js';
import { loadEncoder, type SentenceEncoder } from '../src/models/index.js';
import { POOLING_MODES } from '../src/models/pooling.js';
import { encoderToOnnx } from '../src/engine/onnx/encoder.js';
import { encodeModel } from '../src/engine/onnx/proto.js';
import { createSession, runEncoder } from '../src/engine/onnx/runtime.js';
import { hfConfig, makeModelFolder, type TestArch } from './helpers/models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-parity-'));
const ARCHS: TestArch[] = ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'];
const POOLING_KEYS: Record<string, string> = CONFIG_KEYS;
// Lengths 2..32 tokens (the longest truncated), so every row but one is padded.
const TEXTS = ['a somewhat longer sentence about nurses and engineers', '', 'x', 'Ünïcödé ✓ データ', 'z'.repeat(100), 'two words'];
const TOL = 1e-4;

before(async () => {
  // onnx for encode(), with the tfjs backend auto picks underneath: wasm (the reference) here.
  await initBackend('onnx', { quiet: true });
  assert.equal(tfjsBackend(), 'wasm', 'the reference runs on tfjs wasm');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/**
 * Max abs differences between the tfjs encoder and its ONNX lowering on TEXTS: the graph's
 * two outputs, and the rows encode() gives on the onnx backend (batches of 4 and 2, so the
 * one session serves two sequence lengths).
 */
async function compare(enc: SentenceEncoder): Promise<{ embedding: number; hidden: number; encode: number }> {
  const batch = enc.tokenize(TEXTS);
  const [refEmb, refHidden] = tf.tidy(() => [enc.forward(batch), enc.tokenEmbeddings(batch)]);
  const ref = { emb: refEmb.dataSync().slice(), hidden: refHidden.dataSync().slice() };
  tf.dispose([refEmb, refHidden]);
  const { model, dim } = await encoderToOnnx(enc);
  assert.equal(dim, enc.dim);
  const session = await createSession(encodeModel(model), { threads: 1 });
  const out = await runEncoder(session, batch);
  await session.release();
  assert.equal(out.dim, enc.dim);
  const rows = await enc.encode(TEXTS, { batchSize: 4 });
  const encode = Math.max(...rows.map((row, i) => maxAbsDiff(row, ref.emb.subarray(i * enc.dim, (i + 1) * enc.dim))));
  return { embedding: maxAbsDiff(out.sentenceEmbedding, ref.emb), hidden: maxAbsDiff(out.lastHiddenState, ref.hidden), encode };
}

const figures: string[] = [];
after(() => process.stdout.write(`max abs diff, ONNX vs tfjs wasm:\n${figures.map((f) => `  ${f}`).join('\n')}\n`));

for (const arch of ARCHS) {
  test(`${arch}: every pooling mode at once, and mean + Dense(tanh) + Normalize, match tfjs to ${TOL}`, async () => {
    const all = join(tmp, `${arch}-all`);
    makeModelFolder(all, { arch, seed: 3, pooling: Object.fromEntries(Object.values(POOLING_KEYS).map((k) => [k, true])) });
    const dense = join(tmp, `${arch}-dense`);
    makeModelFolder(dense, { arch, seed: 4, dense: { out: 8, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true });
    for (const [label, dir] of [['all pooling modes', all], ['mean+Dense+Normalize', dense]]) {
      const enc = await loadEncoder(dir);
      if (label === 'all pooling modes') assert.deepEqual(enc.poolingModes, [...POOLING_MODES]);
      const d = await compare(enc);
      figures.push(`${arch} ${label}: sentence_embedding ${d.embedding.toExponential(2)}, last_hidden_state ${d.hidden.toExponential(2)}, encode() on onnx ${d.encode.toExponential(2)}`);
      assert.ok(d.embedding <= TOL, `${arch} ${label}: sentence_embedding differs by ${d.embedding}`);
      assert.ok(d.hidden <= TOL, `${arch} ${label}: last_hidden_state differs by ${d.hidden}`);
      assert.ok(d.encode <= TOL, `${arch} ${label}: encode() on the onnx backend differs by ${d.encode}`);
      enc.dispose();
    }
  });
}

test(`each pooling mode alone, and every Dense activation, match tfjs to ${TOL}`, async () => {
  const cases: [string, Parameters<typeof makeModelFolder>[1]][] = POOLING_MODES.map((mode) => [
    `pooling ${mode}`,
    { arch: 'mpnet', seed: 5, pooling: { pooling_mode_mean_tokens: mode === 'mean', [POOLING_KEYS[mode]]: true } },
  ]);
  for (const act of ['Identity', 'ReLU', 'GELU', 'Sigmoid', 'SiLU']) {
    const path = `torch.nn.modules.${act === 'Identity' ? 'linear' : 'activation'}.${act}`;
    cases.push([`Dense ${act}`, { arch: 'bert', seed: 6, pooling: { pooling_mode_max_tokens: true }, dense: { out: 12, activation: path } }]);
  }
  for (const [label, opts] of cases) {
    const dir = join(tmp, label.replace(/\W+/g, '-'));
    makeModelFolder(dir, opts);
    const enc = await loadEncoder(dir);
    const d = await compare(enc);
    figures.push(`${label}: sentence_embedding ${d.embedding.toExponential(2)}, encode() on onnx ${d.encode.toExponential(2)}`);
    assert.ok(d.embedding <= TOL && d.hidden <= TOL && d.encode <= TOL, `${label}: differs by ${d.embedding} / ${d.hidden} / encode() ${d.encode}`);
    enc.dispose();
  }
});

test('the parity check can fail: a perturbed weight in the graph shows as drift', async () => {
  const dir = join(tmp, 'drift');
  makeModelFolder(dir, { arch: 'roberta', seed: 7 });
  const enc = await loadEncoder(dir);
  const { model } = await encoderToOnnx(enc);
  const ln = model.graph.initializers.find((t) => t.name === 'encoder.layer.1.output.LayerNorm.bias')!;
  const values = new Float32Array(ln.raw.buffer.slice(ln.raw.byteOffset, ln.raw.byteOffset + ln.raw.byteLength));
  values[0] += 1e-2;
  ln.raw = new Uint8Array(values.buffer);
  const session = await createSession(encodeModel(model), { threads: 1 });
  const batch = enc.tokenize(TEXTS);
  const out = await runEncoder(session, batch);
  const ref = tf.tidy(() => enc.tokenEmbeddings(batch));
  assert.ok(maxAbsDiff(out.lastHiddenState, ref.dataSync()) > TOL);
  ref.dispose();
  await session.release();
  enc.dispose();
});

test(`transformer activations other than exact GELU (gelu_new, relu, silu) match tfjs to ${TOL}`, async () => {
  for (const act of ['gelu_new', 'relu', 'silu']) {
    const dir = join(tmp, `act-${act}`);
    makeModelFolder(dir, { arch: 'bert', seed: 8 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...hfConfig('bert'), hidden_act: act }));
    const enc = await loadEncoder(dir);
    assert.equal(enc.config.hiddenAct, act);
    const d = await compare(enc);
    figures.push(`bert hidden_act ${act}: sentence_embedding ${d.embedding.toExponential(2)}, last_hidden_state ${d.hidden.toExponential(2)}, encode() on onnx ${d.encode.toExponential(2)}`);
    assert.ok(d.embedding <= TOL && d.hidden <= TOL && d.encode <= TOL, `${act}: differs by ${d.embedding} / ${d.hidden} / encode() ${d.encode}`);
    enc.dispose();
  }
});
