/**
 * onnxruntime execution providers (EPs): where a session's nodes run. `cpu` is onnxruntime's
 * own (MLAS); the two GPU ones are
 *
 *   webgpu  built into the onnxruntime-node binary (Dawn inside it: Vulkan on Linux, D3D12 on
 *           Windows, Metal on macOS); needs a WebGPU adapter, i.e. a GPU driver (on a machine
 *           without a GPU, Mesa's lavapipe, Vulkan on the CPU, is one: slow, but exact).
 *   cuda    a separate download (libonnxruntime_providers_cuda.so, not in the npm package:
 *           `npm install onnxruntime-node --onnxruntime-node-install=cuda12`), with the NVIDIA
 *           driver, CUDA 12 and cuDNN 9 on the machine.
 *
 * Nodes an EP has no kernel for fall back to the CPU EP (onnxruntime assigns shape
 * arithmetic there on purpose), so --threads still sizes the pool those run on.
 * `checkProvider` makes sure an EP really computes before anything is run on it: the
 * backend (src/backend/index.ts) turns its message into one line naming what to install.
 * https://onnxruntime.ai/docs/execution-providers/
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from './graph.js';
import { encodeModel } from './proto.js';
import type { OrtModule } from './runtime.js';

export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** What to install for each GPU EP (the end of the one-line error). */
export const PROVIDER_FIX: Record<Exclude<ExecutionProvider, 'cpu'>, string> = {
  webgpu: "install a GPU driver with Vulkan (Linux: your GPU vendor's, or Mesa's mesa-vulkan-drivers), D3D12 (Windows) or Metal (macOS)",
  cuda: 'install it with `npm install onnxruntime-node --onnxruntime-node-install=cuda12` on a machine with the NVIDIA driver, CUDA 12 and cuDNN 9',
};

/** Session options that put a session on `provider` (nothing for cpu: the default). */
export function providerSessionOptions(provider: ExecutionProvider): Ort.InferenceSession.SessionOptions {
  if (provider === 'cpu') return {};
  return {
    executionProviders: [provider],
    // Errors only: at the default (warnings) every GPU session says that some nodes (shape
    // arithmetic) were placed on the CPU, which onnxruntime does on purpose.
    logSeverityLevel: 3,
  };
}

/** The CUDA EP's library, where onnxruntime-node's binding looks for it. */
function cudaLibrary(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  const file = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch, file);
}

/** A [2, 2] x [2, 2] MatMul: small, but a real kernel on the EP (and a known answer). */
function probeModel(): Uint8Array {
  const g = new GraphBuilder('probe');
  const x = g.input('x', DataType.FLOAT, [2, 2]);
  const w = g.floats('w', [2, 2], new Float32Array([1, 2, 3, 4]));
  g.output('y', g.matmul(x, w), DataType.FLOAT, [2, 2]);
  return encodeModel(g.toModel({ producerName: 'sbert-train', producerVersion: 'probe' }));
}

/**
 * Why `provider` cannot run sessions here, or null when a MatMul ran on it and gave the right
 * answer. One line that completes "onnxruntime's <EP> execution provider ...". Checks what it can without onnxruntime first (the CUDA EP's files), so the
 * common case prints no onnxruntime log line.
 */
export async function checkProvider(ort: OrtModule, provider: ExecutionProvider): Promise<string | null> {
  if (provider === 'cpu') return null;
  const built = (ort as unknown as { listSupportedBackends?: () => { name: string }[] }).listSupportedBackends?.();
  if (built && !built.some((b) => b.name === provider)) return `is not in onnxruntime-node's build for ${process.platform}/${process.arch}`;
  if (provider === 'cuda' && !existsSync(cudaLibrary())) return `is not installed (no ${cudaLibrary()})`;
  let session: Ort.InferenceSession | null = null;
  try {
    session = await ort.InferenceSession.create(probeModel(), providerSessionOptions(provider));
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array([1, 0, 0, 1]), [2, 2]) });
    const y = [...(out.y.data as Float32Array)];
    if (y.join() !== '1,2,3,4') return `gave [${y.join(', ')}] for a test MatMul, not [1, 2, 3, 4]`;
    return null;
  } catch (e) {
    return `cannot run here (${providerFailure(e)})`;
  } finally {
    await session?.release().catch(() => {});
  }
}

/**
 * One line from onnxruntime's error: its messages start with the C++ source location and the
 * failed condition ("webgpu_context.cc:136 ... was false. Failed to get a WebGPU adapter: No
 * supported adapters"); keep what comes after.
 */
export function providerFailure(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n').find((l) => l.trim())?.trim() ?? 'unknown error';
  const cut = / was false\. (.+)$/.exec(msg);
  return (cut ? cut[1] : msg).trim();
}
