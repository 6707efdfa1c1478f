/**
 * `--backend onnx-webgpu` and `--backend onnx-cuda`: the ONNX engines on onnxruntime's WebGPU
 * and CUDA execution providers (src/engine/onnx/providers.ts, chosen in src/backend/index.ts).
 *
 * Where a provider runs (WebGPU: any GPU driver, or Mesa's lavapipe, Vulkan on the CPU, which
 * .ci/run installs; CUDA: its separate download and an NVIDIA GPU): the parity cases of
 * test/onnx-parity.test.ts against tfjs on wasm, and a few training steps of two losses
 * against the onnx engine on the CPU provider. Where it does not: the one-line error naming
 * the provider and what to install (CUDA here; WebGPU with the Vulkan drivers hidden).
 * Skips print their reason.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, initBackend, tfjsBackend, trainingEngine } from '../src/backend/index.js';
import type { ExecutionProvider } from '../src/engine/onnx/providers.js';
import { loadOrt, type OrtModule } from '../src/engine/onnx/runtime.js';
import { train as trainInternal } from '../src/training/index.js';
import { train, type RecipeInput } from '../src/index.js';
import { parseRecipe } from '../src/recipe/index.js';
import { loadEncoder } from '../src/models/index.js';
import { isOneLineUserError, runCli } from './helpers/cli.js';
import { activationCases, archCases, compareWithTfjs, moduleCases, PARITY_ARCHS, PARITY_TOL, writeParityModel } from './helpers/onnx-parity.js';
import { trainRecipe, writeTrainData } from './helpers/onnx-train-fixtures.js';
import { ONNX_GPU_BACKENDS, onnxProviderUnavailable } from './helpers/gpu.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-gpu-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const input = join(tmp, 'texts.txt');
writeFileSync(input, 'a nurse cares for patients\nsoftware developer\n\nGrüße aus Köln\n');

const GPU_BACKENDS = ONNX_GPU_BACKENDS;

/** Per provider: why it cannot run here (the skip reason), or false. */
const unusable = new Map<ExecutionProvider, string | false>();
let ort: OrtModule;
let originalCreate: OrtModule['InferenceSession']['create'];

/** Every execution provider's session options, as onnxruntime was asked for them (a spy on create). */
const created: unknown[] = [];

before(async () => {
  ort = await loadOrt();
  for (const [name, provider] of GPU_BACKENDS) {
    unusable.set(provider, await onnxProviderUnavailable(ort, name, provider));
  }
  originalCreate = ort.InferenceSession.create;
  const create = originalCreate.bind(ort.InferenceSession) as (...a: unknown[]) => Promise<unknown>;
  (ort.InferenceSession as unknown as { create: unknown }).create = (...args: unknown[]) => {
    const opts = args.find((a, i) => i > 0 && typeof a === 'object' && a !== null && !(a instanceof Uint8Array)) as { executionProviders?: unknown } | undefined;
    created.push(opts?.executionProviders ?? ['cpu']);
    return create(...args);
  };
});
after(() => {
  (ort.InferenceSession as unknown as { create: unknown }).create = originalCreate;
});

const figures: string[] = [];
after(() => figures.length && process.stdout.write(`${figures.map((f) => `# ${f}`).join('\n')}\n`));

for (const [name, provider] of GPU_BACKENDS) {
  const skip = () => unusable.get(provider) ?? 'not checked';

  test(`${name}: embeddings of every architecture, pooling mode, Dense activation and hidden_act match tfjs (wasm) to ${PARITY_TOL}`, async (t) => {
    if (skip()) return t.skip(String(skip()));
    assert.equal(await initBackend(name, { quiet: true }), name);
    assert.equal(tfjsBackend(), 'wasm', 'the reference runs on tfjs wasm');
    const cases = [...PARITY_ARCHS.flatMap(archCases), ...moduleCases(), ...activationCases()];
    const before = created.length;
    let worst = { d: 0, label: '' };
    const started = Date.now();
    for (const c of cases) {
      const enc = await loadEncoder(writeParityModel(tmp, c));
      const d = await compareWithTfjs(enc, provider);
      const m = Math.max(d.embedding, d.hidden, d.encode);
      if (m > worst.d) worst = { d: m, label: c.label };
      assert.ok(m <= PARITY_TOL, `${c.label}: sentence_embedding ${d.embedding}, last_hidden_state ${d.hidden}, encode() ${d.encode}`);
      enc.dispose();
    }
    // every session of the comparison and of encode() was put on the provider
    const sessions = created.slice(before);
    assert.equal(sessions.length, 2 * cases.length);
    assert.ok(
      sessions.every((p) => JSON.stringify(p) === JSON.stringify([provider])),
      JSON.stringify(sessions),
    );
    figures.push(`${name}: ${cases.length} parity cases, worst max abs diff to tfjs wasm ${worst.d.toExponential(2)} (${worst.label}), ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  test(`${name}: 6 training steps (cosine_mse, multiple_negatives_ranking) give the per-step losses of the onnx engine on the CPU within 1e-4 relative`, async (t) => {
    if (skip()) return t.skip(String(skip()));
    await initBackend(name, { quiet: true, training: true });
    const chosen = trainingEngine();
    assert.equal(chosen.engine, 'onnx');
    assert.equal('provider' in chosen && chosen.provider, provider, 'the backend trains on its provider');
    const file = writeTrainData(tmp);
    const quiet = { log: () => {}, progress: false };
    for (const loss of ['cosine_mse', 'multiple_negatives_ranking']) {
      const raw = trainRecipe(tmp, loss, file, { max_steps: 6 });
      const cpu = await trainInternal(parseRecipe(raw, { baseDir: tmp }), { ...quiet, skipSave: true, engine: 'onnx', threads: 1, provider: 'cpu' });
      const before = created.length;
      // the library's train(), engine and provider from the backend chosen above
      const gpu = await train({ ...raw, output: { dir: mkdtempSync(join(tmp, `gpu-${loss}-`)) } } as RecipeInput, { ...quiet, baseDir: tmp, threads: 1 });
      assert.deepEqual(created.slice(before, before + 2), [[provider], [provider]], 'the forward and backward sessions run on the provider');
      assert.equal(gpu.steps, 6);
      const rel = cpu.losses.map((x, i) => Math.abs(x - gpu.losses[i]) / Math.max(Math.abs(x), 1e-6));
      const worst = Math.max(...rel);
      figures.push(`${name} ${loss}: worst per-step relative loss diff to the CPU provider over 6 steps ${worst.toExponential(2)} (loss ${cpu.losses[0].toFixed(4)} -> ${cpu.losses[5].toFixed(4)})`);
      assert.ok(worst <= 1e-4, `${loss}: ${rel.map((x) => x.toExponential(1)).join(' ')}`);
      assert.notEqual(gpu.losses[5], gpu.losses[0], `${loss}: training moved`);
    }
  });
}

test('onnx-webgpu on the CLI: the backend line names the provider, and encode writes the tfjs (wasm) embeddings to 1e-4', async (t) => {
  if (unusable.get('webgpu')) return t.skip(String(unusable.get('webgpu')));
  const out = join(tmp, 'cli-webgpu.jsonl');
  const r = runCli(['encode', '--backend', 'onnx-webgpu', '--model', 'builtin:tiny', '--input', input, '--output', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^backend: onnx-webgpu \(onnxruntime-node [\d.]+, WebGPU execution provider, \d+ threads? for the nodes left on the CPU; training on wasm\)$/m);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { embedding: number[] }).embedding);
  const enc = await loadEncoder('builtin:tiny');
  const texts = readFileSync(input, 'utf8').split('\n').slice(0, 4);
  const ref = tf.tidy(() => enc.forward(enc.tokenize(texts)));
  const data = await ref.data();
  ref.dispose();
  enc.dispose();
  assert.equal(rows.length, 4);
  const worst = Math.max(...rows.flatMap((row, i) => row.map((x, j) => Math.abs(x - data[i * row.length + j]))));
  figures.push(`onnx-webgpu CLI encode vs tfjs wasm: max abs diff ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-4, `max abs diff ${worst}`);
});

test('onnx-webgpu without a WebGPU adapter (Vulkan drivers hidden): exit 2, the last line names the provider and what to install', (t) => {
  if (process.platform !== 'linux') return t.skip('hides the Vulkan drivers with VK_ICD_FILENAMES (Linux)');
  const r = runCli(['encode', '--backend', 'onnx-webgpu', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'never.jsonl')], {
    env: { VK_ICD_FILENAMES: join(tmp, 'no-such-icd.json'), VK_DRIVER_FILES: join(tmp, 'no-such-icd.json') },
  });
  assert.equal(r.code, 2, r.stderr);
  // Above it, the Vulkan loader's own warnings (not ours) may stand.
  const last = r.stderr.trim().split('\n').pop()!;
  assert.match(last, /^sbert-train: backend 'onnx-webgpu': onnxruntime's WebGPU execution provider cannot run here \(.+\); install a GPU driver with Vulkan .*, or choose --backend onnx \(CPU\)$/);
});

test('onnx-cuda where its files are not installed: one line, exit 2, naming the CUDA execution provider and the install flag', (t) => {
  if (!unusable.get('cuda')) return t.skip('the CUDA execution provider runs here');
  const r = runCli(['encode', '--backend', 'onnx-cuda', '--model', 'builtin:tiny', '--input', input, '--output', join(tmp, 'never.jsonl')]);
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /^sbert-train: backend 'onnx-cuda': onnxruntime's CUDA execution provider (is not installed|cannot run here|is not in).*--onnxruntime-node-install=cuda12.*or choose --backend onnx \(CPU\)$/m);
  assert.doesNotMatch(r.stderr, /^backend: /m, 'nothing was chosen');
});

test('the library refuses an unusable provider with a UserError, and keeps the backend it had', async (t) => {
  const missing = GPU_BACKENDS.find(([, provider]) => unusable.get(provider));
  if (!missing) return t.skip('every provider runs here: nothing to refuse');
  const previous = currentBackend();
  await assert.rejects(initBackend(missing[0], { quiet: true }), (e: Error) => e.name === 'UserError' && e.message.includes(`backend '${missing[0]}'`) && /execution provider/.test(e.message));
  assert.equal(currentBackend(), previous);
});
