/**
 * The webgpu backend gives the numbers the cpu backend gives. Runs where the optional
 * `webgpu` (Dawn) and `@tensorflow/tfjs-backend-webgpu` packages are installed and a WebGPU
 * adapter exists (a GPU, or Mesa's lavapipe on a CPU-only machine: .ci/run installs both);
 * skips with the reason printed otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { assertBackendHealthy, initBackend } from '../src/backend/index.js';
import { BackendError } from '../src/errors.js';
import { builtinEncoder, loadEncoder } from '../src/models/index.js';
import { POOLING_MODES } from '../src/models/pooling.js';
import { parseRecipe } from '../src/recipe/index.js';
import { train } from '../src/training/index.js';
import { ROOT } from './helpers/cli.js';
import { makeModelFolder, type TestArch } from './helpers/models.js';
import { webgpuUnavailable } from './helpers/gpu.js';

const skip = await webgpuUnavailable();

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

test('every architecture (BERT, DistilBERT, RoBERTa, XLM-R, MPNet; Dense + Normalize) embeds on webgpu as on cpu', { skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'webgpu-arch-'));
  for (const arch of ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'] as TestArch[]) {
    const dir = join(root, arch);
    makeModelFolder(dir, { arch, dense: { out: 8, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true });
    const rows: Float32Array[][] = [];
    for (const backend of ['webgpu', 'cpu']) {
      await tf.setBackend(backend);
      const enc = await loadEncoder(dir);
      // Twice on webgpu: MPNet caches its relative-position buckets between calls.
      rows.push(await enc.encode(TEXTS, { batchSize: 4, progress: false }));
      if (backend === 'webgpu') rows.push(await enc.encode(TEXTS, { batchSize: 2, progress: false }));
      enc.dispose();
    }
    const [gpu, gpuAgain, cpu] = rows;
    let worst = 0;
    for (const other of [gpu, gpuAgain]) other.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - cpu[i][j])))));
    assert.ok(worst <= 1e-4, `${arch}: max abs diff ${worst}`);
  }
});

test('training on webgpu follows cpu step for step (cosine MSE with clipping, online contrastive), checkpoints and saves', { skip, timeout: 600_000 }, async () => {
  // The fixture pairs, scored 0-5, and the same pairs labelled 1 (score >= 2.5) or 0.
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-train-'));
  const [header, ...rows] = readFileSync(join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv'), 'utf8').trim().split('\n');
  writeFileSync(join(dir, 'scored.csv'), [header, ...rows].join('\n') + '\n');
  writeFileSync(join(dir, 'labelled.csv'), [header, ...rows.map((r) => r.replace(/,([\d.]+)$/, (_, v: string) => `,${Number(v) >= 2.5 ? 1 : 0}`))].join('\n') + '\n');
  for (const [loss, file] of [[{ name: 'cosine_mse' }, 'scored.csv'], [{ name: 'online_contrastive' }, 'labelled.csv']] as const) {
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const recipe = parseRecipe(
        {
          model: { base: 'builtin:tiny', max_seq_length: 16 },
          // A contrastive loss needs 0/1 labels in its dev set too (labels are checked against the loss).
          data: { train: file, dev: file, score_scale: file === 'scored.csv' ? [0, 5] : null },
          loss,
          optimizer: { lr: 1e-3, clip_grad_norm: 0.5 },
          training: { batch_size: 4, epochs: 2, max_steps: 3, checkpoint_every: 2, shuffle: false },
          output: { dir: mkdtempSync(join(tmpdir(), `webgpu-${backend}-`)) },
        },
        { baseDir: dir },
      );
      const r = await train(recipe, { log: () => {}, progress: false });
      const enc = await loadEncoder(r.modelDir!);
      const emb = await enc.encode(['software developer', 'nurse'], { progress: false });
      enc.dispose();
      return { losses: r.losses, emb };
    };
    const gpu = await run('webgpu');
    const cpu = await run('cpu');
    assert.equal(gpu.losses.length, 3);
    assert.ok(gpu.losses.some((l) => l > 0), `${loss.name}: the loss is not trivially 0: ${gpu.losses}`);
    gpu.losses.forEach((l, i) => assert.ok(Math.abs(l - cpu.losses[i]) <= 1e-4 * Math.abs(cpu.losses[i]) + 1e-7, `${loss.name} step ${i + 1}: webgpu ${l} vs cpu ${cpu.losses[i]}`));
    gpu.emb.forEach((row, i) => row.forEach((x, j) => assert.ok(Math.abs(x - cpu.emb[i][j]) <= 1e-4, `${loss.name}: saved model embedding [${i}][${j}] ${x} vs ${cpu.emb[i][j]}`)));
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
