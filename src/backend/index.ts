/**
 * Backend selection. `auto` picks the fastest backend that loads on this machine:
 * tfjs-node-gpu, then tfjs-node (optional peer dependencies, never installed by us), then
 * wasm (XNNPACK, with our extra kernels), then the pure-JS cpu backend. `webgpu` is used only
 * when asked and an adapter exists (Dawn's `webgpu` package in Node).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BackendError, UserError } from '../errors.js';
import { registerAllGradients } from './gradients.js';
import { registerWasmExtras } from './wasm-kernels.js';
import { installWebgpuFixes, takeWebgpuError } from './webgpu.js';

export const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

let chosen: string | null = null;

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
 * Initialise a backend and print the choice once (to stderr, so stdout stays clean for
 * `--json` output). Calling it again with the same name is a no-op.
 */
export async function initBackend(name: BackendName | string = 'auto', opts: { quiet?: boolean } = {}): Promise<string> {
  if (chosen && (name === 'auto' || name === chosen)) return chosen;
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new UserError(`unknown backend '${name}': valid names are ${BACKENDS.join(', ')}`);
  }
  // tfjs-core's Node entry registers no gradients; training needs them (see gradients.ts).
  await registerAllGradients();
  // PROD silences tfjs's console banners ("Hi, looks like you are running TensorFlow.js in
  // Node.js...") that would otherwise land in users' output.
  tf.env().set('PROD', true);
  let ok = false;
  if (name === 'auto') {
    ok = (await loadTensorflow()) || (await loadWasm()) || (await tf.setBackend('cpu'));
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
  chosen = tf.getBackend();
  if (!opts.quiet && !process.env.SBERT_QUIET_BACKEND) process.stderr.write(`backend: ${chosen}\n`);
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

export function currentBackend(): string | null {
  return chosen;
}
