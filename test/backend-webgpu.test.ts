/**
 * The webgpu backend gives the numbers the cpu backend gives. Runs where the optional
 * `webgpu` (Dawn) and `@tensorflow/tfjs-backend-webgpu` packages are installed and a WebGPU
 * adapter exists (a GPU, or Mesa's lavapipe on a CPU-only machine: .ci/run installs both);
 * skips with the reason printed otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertBackendHealthy, initBackend } from '../src/backend/index.js';
import { BackendError } from '../src/errors.js';
import { builtinEncoder } from '../src/models/index.js';
import { POOLING_MODES } from '../src/models/pooling.js';

let skip: string | false = false;
try {
  await initBackend('webgpu', { quiet: true });
} catch (e) {
  skip = `webgpu backend unavailable: ${(e as Error).message}`;
}
if (skip) console.log(`# ${skip}`);

const TEXTS = ['the quick brown fox jumps over the lazy dog', 'software developer', '', 'naïve café 日本語の文章', 'a'];

async function embeddings(backend: string, pooling: (typeof POOLING_MODES)[number]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const enc = builtinEncoder('tiny', 42);
  enc.setPooling([pooling]);
  try {
    return await enc.encode(TEXTS, { batchSize: 4, progress: false });
  } finally {
    enc.dispose();
  }
}

test('encoder embeddings on webgpu equal cpu (every pooling mode, padding, empty text)', { skip }, async () => {
  for (const pooling of POOLING_MODES) {
    const gpu = await embeddings('webgpu', pooling);
    const cpu = await embeddings('cpu', pooling);
    let worst = 0;
    gpu.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - cpu[i][j])))));
    assert.ok(worst <= 1e-4, `${pooling}: max abs diff ${worst}`);
  }
});

test('a failed WebGPU kernel stops the run instead of yielding wrong numbers', { skip }, async () => {
  await tf.setBackend('webgpu');
  const device = (tf.backend() as unknown as { device: { createShaderModule(d: { code: string }): unknown } }).device;
  device.createShaderModule({ code: 'this is not WGSL' });
  await new Promise((r) => setTimeout(r, 100));
  assert.throws(() => assertBackendHealthy(), (e: unknown) => e instanceof BackendError && /webgpu backend reported an error/.test((e as Error).message));
  assert.doesNotThrow(() => assertBackendHealthy(), 'reported once');
});
