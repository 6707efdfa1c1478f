/**
 * Backend selection, the one place it happens. Two choices are made here:
 *
 * - the tfjs backend, which holds the weights and runs training and every `forward()`:
 *   tfjs-node-gpu, then tfjs-node (optional peer dependencies, never installed by us), then
 *   wasm (XNNPACK, with our extra kernels), then the pure-JS cpu backend. `webgpu` is used
 *   only when asked and an adapter exists (Dawn's `webgpu` package in Node).
 * - the inference engine behind `encode()` (src/engine): with `onnx`, the encoder lowered to
 *   an ONNX graph in onnxruntime-node (--threads intra-op threads, default the physical
 *   cores), with the tfjs backend `auto` would pick underneath for training and loading.
 *   `onnx-webgpu` and `onnx-cuda` are the same on onnxruntime's WebGPU or CUDA execution
 *   provider (src/engine/onnx/providers.ts), inference and training both; only when asked,
 *   and a one-line error naming what to install when the provider cannot run here.
 *
 * `auto` = tfjs as above, and onnx for inference when onnxruntime-node loads. The choice is
 * printed once on stderr, e.g. `backend: onnx (onnxruntime-node 1.30.0, 2 threads; training
 * on wasm)`.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BackendError, UserError } from '../errors.js';
import { setInferenceEngine, type InferenceEngine } from '../engine/index.js';
import type { ExecutionProvider } from '../engine/onnx/providers.js';
import { registerAllGradients } from './gradients.js';
import { registerWasmExtras } from './wasm-kernels.js';
import { installWebgpuFixes, takeWebgpuError } from './webgpu.js';

export const BACKENDS = ['auto', 'onnx', 'onnx-webgpu', 'onnx-cuda', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The backends that run on onnxruntime, and on which of its execution providers. */
export const ONNX_BACKENDS: Readonly<Record<string, ExecutionProvider>> = { onnx: 'cpu', 'onnx-webgpu': 'webgpu', 'onnx-cuda': 'cuda' };
const PROVIDER_LABEL: Record<ExecutionProvider, string> = { cpu: 'CPU', webgpu: 'WebGPU', cuda: 'CUDA' };

/** What was chosen: the name callers see (an onnx backend's or the tfjs backend's), its onnx threads and provider. */
let chosen: string | null = null;
let chosenThreads: number | null = null;
let chosenProvider: ExecutionProvider | null = null;
/** --threads, when given (see configureBackend). */
let requestedThreads: number | null = null;

/**
 * Options that apply to whichever backend is chosen later; the CLI calls this once with its
 * global options. `threads` must be a whole number >= 1 (a UserError otherwise).
 */
export function configureBackend(opts: { threads?: unknown }): void {
  const t = opts.threads;
  if (t === undefined || t === null) {
    requestedThreads = null;
    return;
  }
  const n = typeof t === 'number' ? t : typeof t === 'string' && /^\s*\d+\s*$/.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UserError(`--threads must be a whole number from 1 to 1024, got '${String(t)}'`);
  requestedThreads = n;
}

/**
 * Physical cores this process may use: unique (physical id, core id) pairs in /proc/cpuinfo
 * on Linux (hyper-threads share a core's FMA units, so a GEMM gains nothing from them), never
 * more than os.availableParallelism() (CPU affinity); elsewhere, or when /proc/cpuinfo has
 * no core ids (many ARM kernels), os.availableParallelism().
 */
export function physicalCores(cpuinfo?: string): number {
  const logical = os.availableParallelism();
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return logical;
    }
  }
  const cores = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    const physical = /^physical id\s*:\s*(\d+)/m.exec(block)?.[1];
    const core = /^core id\s*:\s*(\d+)/m.exec(block)?.[1];
    if (physical !== undefined && core !== undefined) cores.add(`${physical}:${core}`);
  }
  return cores.size ? Math.min(cores.size, logical) : logical;
}

async function tryImport(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

async function loadTensorflow(): Promise<boolean> {
  // tfjs-node registers a backend named 'tensorflow' on import (the GPU build too).
  if ((await tryImport('@tensorflow/tfjs-node-gpu')) || (await tryImport('@tensorflow/tfjs-node'))) {
    return tf.setBackend('tensorflow');
  }
  return false;
}

async function loadWasm(): Promise<boolean> {
  // The Emscripten module installs process-wide handlers that rethrow any uncaught error
  // from inside its minified source (printing kilobytes of it); keep Node's own handling.
  const before = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  if (!(await tryImport('@tensorflow/tfjs-backend-wasm'))) return false;
  registerWasmExtras();
  const ok = await tf.setBackend('wasm');
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    for (const l of process.listeners(event as 'uncaughtException')) {
      if (!(before[event] as unknown[]).includes(l)) process.removeListener(event as 'uncaughtException', l as (...args: unknown[]) => void);
    }
  }
  return ok;
}

async function loadWebgpu(): Promise<boolean> {
  try {
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator?.gpu) {
      const webgpu = (await import('webgpu' as string)) as { create: (o: string[]) => unknown; globals: object };
      Object.assign(globalThis, webgpu.globals);
      (globalThis as { navigator?: object }).navigator ??= {};
      Object.defineProperty((globalThis as { navigator: object }).navigator, 'gpu', {
        value: webgpu.create([]),
        configurable: true,
      });
    }
    if (!(await tryImport('@tensorflow/tfjs-backend-webgpu'))) return false;
    if (!(await tf.setBackend('webgpu'))) return false;
    installWebgpuFixes();
    return true;
  } catch {
    return false;
  }
}

/**
 * The onnx inference engine, or why onnxruntime-node did not load (one line). Imported
 * lazily: the engine pulls in the ONNX lowering, and onnxruntime-node is a native addon that
 * only the runs that use it should load.
 */
async function loadOnnxEngine(threads: number, provider: ExecutionProvider): Promise<{ engine: InferenceEngine; version: string } | { error: string; providerError?: true }> {
  const runtime = await import('../engine/onnx/runtime.js');
  let ort: Awaited<ReturnType<typeof runtime.loadOrt>>;
  try {
    ort = await runtime.loadOrt();
  } catch (e) {
    return { error: (e as Error).message };
  }
  const { checkProvider } = await import('../engine/onnx/providers.js');
  const unusable = await checkProvider(ort, provider);
  if (unusable) return { error: unusable, providerError: true };
  const { OnnxInferenceEngine } = await import('../engine/onnx/inference.js');
  return { engine: new OnnxInferenceEngine({ threads, provider }), version: runtime.ortVersion() };
}

/** The one line for an onnx backend that cannot run: onnxruntime-node missing, or its execution provider unusable. */
async function onnxLoadError(name: string, provider: ExecutionProvider, failure: { error: string; providerError?: true }): Promise<UserError> {
  if (!failure.providerError) return new UserError(`backend '${name}' needs onnxruntime-node, which did not load (${failure.error}); reinstall it (npm install onnxruntime-node) or choose --backend wasm`);
  const { PROVIDER_FIX } = await import('../engine/onnx/providers.js');
  const fix = PROVIDER_FIX[provider as Exclude<ExecutionProvider, 'cpu'>];
  return new UserError(`backend '${name}': onnxruntime's ${PROVIDER_LABEL[provider]} execution provider ${failure.error}; ${fix}, or choose --backend onnx (CPU)`);
}

/** The tfjs backend `auto` picks: tfjs-node(-gpu), then wasm, then cpu. */
async function loadAutoTfjs(): Promise<boolean> {
  return (await loadTensorflow()) || (await loadWasm()) || (await tf.setBackend('cpu'));
}

/**
 * Initialise a backend and print the choice once (to stderr, so stdout stays clean for
 * `--json` output). Calling it again with the same name (and the same --threads) is a no-op,
 * and so is `auto` once something was chosen.
 */
export async function initBackend(name: BackendName | string = 'auto', opts: { quiet?: boolean; training?: boolean } = {}): Promise<string> {
  const threads = requestedThreads ?? physicalCores();
  if (chosen && (name === 'auto' || name === chosen) && (chosenThreads === null || chosenThreads === threads)) return chosen;
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new UserError(`unknown backend '${name}': valid names are ${BACKENDS.join(', ')}`);
  }
  // tfjs-core's Node entry registers no gradients; training needs them (see gradients.ts).
  await registerAllGradients();
  // PROD silences tfjs's console banners ("Hi, looks like you are running TensorFlow.js in
  // Node.js...") that would otherwise land in users' output.
  tf.env().set('PROD', true);
  let ok = false;
  let onnx: Awaited<ReturnType<typeof loadOnnxEngine>> | null = null;
  const provider = ONNX_BACKENDS[name] ?? 'cpu';
  if (name === 'auto' || name in ONNX_BACKENDS) {
    ok = await loadAutoTfjs();
    onnx = await loadOnnxEngine(threads, provider);
    if ('error' in onnx && name !== 'auto') throw await onnxLoadError(name, provider, onnx);
  } else if (name === 'tensorflow') {
    ok = await loadTensorflow();
    if (!ok) throw new UserError("backend 'tensorflow' needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: npm install one of them");
  } else if (name === 'webgpu') {
    ok = await loadWebgpu();
    if (!ok) throw new UserError("backend 'webgpu' found no WebGPU adapter (install the 'webgpu' and '@tensorflow/tfjs-backend-webgpu' packages and a GPU driver)");
  } else if (name === 'wasm') {
    ok = await loadWasm();
    if (!ok) throw new UserError("backend 'wasm' failed to load @tensorflow/tfjs-backend-wasm");
  } else {
    ok = await tf.setBackend('cpu');
  }
  await tf.ready();
  const tfjsName = tf.getBackend();
  let line: string;
  if (onnx && 'engine' in onnx) {
    setInferenceEngine(onnx.engine);
    chosen = name === 'auto' ? 'onnx' : name;
    chosenThreads = threads;
    chosenProvider = provider;
    const trainer = opts.training && trainsOnOnnx(provider, tfjsName) ? chosen : tfjsName;
    const threadsText = `${threads} thread${threads === 1 ? '' : 's'}${provider === 'cpu' ? '' : ' for the nodes left on the CPU'}`;
    const where = provider === 'cpu' ? '' : `${PROVIDER_LABEL[provider]} execution provider, `;
    line = `${chosen} (onnxruntime-node ${onnx.version}, ${where}${threadsText}; training on ${trainer})`;
  } else {
    setInferenceEngine(null);
    chosen = tfjsName;
    chosenThreads = null;
    chosenProvider = null;
    line = onnx ? `${tfjsName} (onnxruntime-node did not load: ${onnx.error})` : tfjsName;
  }
  if (!opts.quiet && !process.env.SBERT_QUIET_BACKEND) process.stderr.write(`backend: ${line}\n`);
  return chosen;
}

/**
 * Throw if the backend reported an error since the last check (WebGPU reports failed kernels
 * as events, not exceptions): better to stop than to write wrong numbers.
 */
export function assertBackendHealthy(): void {
  const e = takeWebgpuError();
  if (e) throw new BackendError(`the webgpu backend reported an error, so the results would be wrong (${e}); run with --backend wasm or cpu`);
}

/**
 * Copy tensors to the host, all reads in flight together. Asynchronous on purpose: the
 * webgpu backend cannot read synchronously in Node (its dataSync needs OffscreenCanvas).
 */
export async function readToHost<K>(tensors: Map<K, tf.Tensor>): Promise<Map<K, Float32Array>> {
  const keys = [...tensors.keys()];
  const values = await Promise.all(keys.map((k) => tensors.get(k)!.data()));
  return new Map(keys.map((k, i) => [k, values[i] as Float32Array]));
}

/**
 * Whether training runs on the onnx training engine (src/engine/onnx/training.ts): when an
 * onnx backend was chosen, on a GPU provider always (it was asked for by name), on the CPU
 * one unless the tfjs backend underneath is tfjs-node (libtensorflow trains natively; wasm
 * and cpu are 3-8x slower than the onnx engine: benchmarks/RESULTS.md).
 */
function trainsOnOnnx(provider: ExecutionProvider, tfjsName: string): boolean {
  return provider !== 'cpu' || tfjsName !== 'tensorflow';
}

/** The training engine, its threads and execution provider for `train()`, from what initBackend chose. */
export function trainingEngine(): { engine: 'onnx'; threads: number; provider: ExecutionProvider } | { engine: 'tfjs' } {
  return chosenProvider !== null && chosenThreads !== null && trainsOnOnnx(chosenProvider, tf.getBackend())
    ? { engine: 'onnx', threads: chosenThreads, provider: chosenProvider }
    : { engine: 'tfjs' };
}

/** What initBackend chose: 'onnx', 'onnx-webgpu', 'onnx-cuda' (inference on onnxruntime, see tfjsBackend()) or the tfjs backend; null before. */
export function currentBackend(): string | null {
  return chosen;
}

/** The tfjs backend underneath (training, forward(), weights), whatever runs inference. */
export function tfjsBackend(): string {
  return tf.getBackend();
}
