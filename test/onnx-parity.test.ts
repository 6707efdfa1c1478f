/**
 * The ONNX lowering (src/engine/onnx/encoder.ts) against the tfjs encoder (src/models), the
 * reference: every architecture and every pooling mode, Dense activations and Normalize, on
 * texts of different lengths padded into one batch. Any drift between the two definitions
 * fails here. Each case is checked twice: the graph in a session of its own (both outputs),
 * and `encode()` with the `onnx` backend (src/engine/onnx/inference.ts: the cached session,
 * batches of different lengths, Normalize on the host), both against tfjs on wasm.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tfjsBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { POOLING_MODES } from '../src/models/pooling.js';
import { encoderToOnnx } from '../src/engine/onnx/encoder.js';
import { encodeModel } from '../src/engine/onnx/proto.js';
import { createSession, runEncoder } from '../src/engine/onnx/runtime.js';
import { makeModelFolder } from './helpers/models.js';
import {
  PARITY_ARCHS as ARCHS,
  PARITY_TEXTS as TEXTS,
  PARITY_TOL as TOL,
  activationCases,
  archCases,
  compareWithTfjs as compare,
  maxAbsDiff,
  moduleCases,
  writeParityModel,
} from './helpers/onnx-parity.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-parity-'));

before(async () => {
  // onnx for encode(), with the tfjs backend auto picks underneath: wasm (the reference) here.
  await initBackend('onnx', { quiet: true });
  assert.equal(tfjsBackend(), 'wasm', 'the reference runs on tfjs wasm');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const figures: string[] = [];
after(() => process.stdout.write(`max abs diff, ONNX vs tfjs wasm:\n${figures.map((f) => `  ${f}`).join('\n')}\n`));

for (const arch of ARCHS) {
  test(`${arch}: every pooling mode at once, and mean + Dense(tanh) + Normalize, match tfjs to ${TOL}`, async () => {
    for (const c of archCases(arch)) {
      const label = c.label;
      const enc = await loadEncoder(writeParityModel(tmp, c));
      if (label.endsWith('all pooling modes')) assert.deepEqual(enc.poolingModes, [...POOLING_MODES]);
      const d = await compare(enc);
      figures.push(`${label}: sentence_embedding ${d.embedding.toExponential(2)}, last_hidden_state ${d.hidden.toExponential(2)}, encode() on onnx ${d.encode.toExponential(2)}`);
      assert.ok(d.embedding <= TOL, `${label}: sentence_embedding differs by ${d.embedding}`);
      assert.ok(d.hidden <= TOL, `${label}: last_hidden_state differs by ${d.hidden}`);
      assert.ok(d.encode <= TOL, `${label}: encode() on the onnx backend differs by ${d.encode}`);
      enc.dispose();
    }
  });
}

test(`each pooling mode alone, and every Dense activation, match tfjs to ${TOL}`, async () => {
  for (const c of moduleCases()) {
    const label = c.label;
    const enc = await loadEncoder(writeParityModel(tmp, c));
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
  for (const c of activationCases()) {
    const act = c.hiddenAct!;
    const enc = await loadEncoder(writeParityModel(tmp, c));
    assert.equal(enc.config.hiddenAct, act);
    const d = await compare(enc);
    figures.push(`${c.label}: sentence_embedding ${d.embedding.toExponential(2)}, last_hidden_state ${d.hidden.toExponential(2)}, encode() on onnx ${d.encode.toExponential(2)}`);
    assert.ok(d.embedding <= TOL && d.hidden <= TOL && d.encode <= TOL, `${act}: differs by ${d.embedding} / ${d.hidden} / encode() ${d.encode}`);
    enc.dispose();
  }
});
