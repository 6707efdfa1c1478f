/**
 * Dynamic 8-bit quantization (src/engine/onnx/quantize.ts): the weight rounding by hand, and
 * the quantized graphs of every architecture load in onnxruntime (and transformers.js as
 * dtype 'q8'), are smaller, and stay close to the float embeddings.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { EXPORT_MARKER, exportOnnx } from '../src/engine/onnx/export.js';
import { quantizeColumns } from '../src/engine/onnx/quantize.js';
import { createSession, runEncoder } from '../src/engine/onnx/runtime.js';
import { makeModelFolder, type TestArch } from './helpers/models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-quantize-'));
const TEXTS = ['A man is playing a guitar.', '', 'registered nurse', 'Ünïcödé ✓', 'x', 'y'.repeat(80)];
after(() => rmSync(tmp, { recursive: true, force: true }));
before(async () => {
  await initBackend('wasm', { quiet: true });
  env.allowRemoteModels = false;
  env.localModelPath = tmp;
});

function minCosine(a: Float32Array, b: Float32Array, dim: number): number {
  let worst = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let ab = 0, aa = 0, bb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      ab += a[j] * b[j];
      aa += a[j] * a[j];
      bb += b[j] * b[j];
    }
    worst = Math.min(worst, ab / Math.sqrt(aa * bb));
  }
  return worst;
}

test('per-column uint8 weights: zero is exact, every value within half a step, columns scaled apart', () => {
  // [K=3, N=2]: column 0 spans [-1, 2], column 1 is all zero except 0.01
  const w = Float32Array.from([-1, 0, 0.5, 0.01, 2, 0]);
  const { q, scale, zeroPoint } = quantizeColumns(w, 3, 2);
  assert.ok(Math.abs(scale[0] - 3 / 255) < 1e-9);
  assert.equal(zeroPoint[0], 85); // round(1 / (3/255))
  assert.ok(Math.abs(scale[1] - 0.01 / 255) < 1e-9);
  assert.equal(zeroPoint[1], 0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 2; j++) {
      const back = (q[i * 2 + j] - zeroPoint[j]) * scale[j];
      assert.ok(Math.abs(back - w[i * 2 + j]) <= (scale[j] / 2) * (1 + 1e-6), `(${i}, ${j}): ${back} vs ${w[i * 2 + j]}`);
      if (w[i * 2 + j] === 0) assert.equal(back, 0);
    }
  }
  const flat = quantizeColumns(new Float32Array(4), 2, 2);
  assert.deepEqual(Array.from(flat.scale), [1, 1]);
});

const figures: string[] = [];
after(() => process.stdout.write(`int8 against float (min cosine, size):\n${figures.map((f) => `  ${f}`).join('\n')}\n`));

for (const arch of ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'] as TestArch[]) {
  test(`${arch}: model_quantized.onnx loads, is smaller, and its embeddings have cosine > 0.99 to the float ones`, async () => {
    const src = join(tmp, `${arch}-src`);
    makeModelFolder(src, { arch, seed: 21, pooling: { pooling_mode_max_tokens: true }, dense: { out: 12, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true });
    const enc = await loadEncoder(src);
    const out = join(tmp, arch);
    const r = await exportOnnx(enc, out, { quantize: 'int8' });
    const batch = enc.tokenize(TEXTS);
    const run = async (file: string) => {
      const s = await createSession(join(out, 'onnx', file));
      const o = await runEncoder(s, batch);
      await s.release();
      return o.sentenceEmbedding;
    };
    const float = await run('model.onnx');
    const int8 = await run('model_quantized.onnx');
    const cos = minCosine(float, int8, enc.dim);
    const ratio = statSync(join(out, 'onnx', 'model_quantized.onnx')).size / statSync(join(out, 'onnx', 'model.onnx')).size;
    figures.push(`${arch}: cosine ${cos.toFixed(5)}, size ${(100 * ratio).toFixed(0)}%`);
    assert.ok(cos > 0.99, `${arch}: min cosine ${cos}`);
    assert.ok(cos < 1 - 1e-9, `${arch}: identical to float, so nothing was quantized`);
    // every projection (q, k, v, o, FFN in, FFN out per layer, and the Dense) is quantized; the
    // test models are mostly embeddings (vocab 261 x 16), which stay float, so the file shrinks less
    const marker = JSON.parse(readFileSync(join(out, EXPORT_MARKER), 'utf8'));
    assert.equal(marker.quantized.matmuls, 6 * enc.config.numLayers + 1);
    assert.ok(ratio < 0.95, `${arch}: quantized size ${ratio} of float`);
    assert.ok(r.quantizedMinCosine !== undefined && r.quantizedMinCosine > 0.99);
    enc.dispose();
  });
}

test("transformers.js loads model_quantized.onnx as dtype 'q8' and stays close to the float pipeline", async () => {
  const src = join(tmp, 'q8-src');
  makeModelFolder(src, { seed: 22, normalize: true });
  const enc = await loadEncoder(src);
  await exportOnnx(enc, join(tmp, 'q8'), { quantize: 'int8' });
  enc.dispose();
  const texts = TEXTS.slice(0, 5);
  const embed = async (dtype: 'fp32' | 'q8') => {
    const extractor = await pipeline('feature-extraction', 'q8', { local_files_only: true, dtype });
    const o = await extractor(texts, { pooling: 'mean', normalize: true });
    await extractor.dispose();
    return { data: o.data as Float32Array, dim: (o.dims as number[])[1] };
  };
  const f = await embed('fp32');
  const q = await embed('q8');
  const cos = minCosine(f.data, q.data, f.dim);
  assert.ok(cos > 0.99 && cos < 1, `cosine ${cos}`);
});
