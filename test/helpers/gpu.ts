/**
 * Whether a GPU backend can run on this machine, and if not why: tests that need one skip with
 * the reason, printed once as a `# ...` line (a WebGPU adapter is a GPU, or Mesa's lavapipe on
 * a CPU-only machine: .ci/run installs both; CUDA needs its separate onnxruntime download).
 */
import { initBackend } from '../../src/backend/index.js';
import { checkProvider, type ExecutionProvider } from '../../src/engine/onnx/providers.js';
import type { OrtModule } from '../../src/engine/onnx/runtime.js';

/** The onnx backends on a GPU execution provider, by backend name. */
export const ONNX_GPU_BACKENDS: [string, ExecutionProvider][] = [
  ['onnx-webgpu', 'webgpu'],
  ['onnx-cuda', 'cuda'],
];

/**
 * The tfjs `webgpu` backend: false when it starts (it is then the current backend), else the
 * skip reason.
 */
export async function webgpuUnavailable(): Promise<string | false> {
  try {
    await initBackend('webgpu', { quiet: true });
    return false;
  } catch (e) {
    const why = `webgpu backend unavailable: ${(e as Error).message}`;
    process.stdout.write(`# ${why}\n`);
    return why;
  }
}

/** onnxruntime's execution provider `provider` for backend `name`: false when it runs a test MatMul, else the skip reason. */
export async function onnxProviderUnavailable(ort: OrtModule, name: string, provider: ExecutionProvider): Promise<string | false> {
  const why = await checkProvider(ort, provider);
  if (!why) return false;
  process.stdout.write(`# ${name} skipped where it needs the provider: ${why}\n`);
  return `${name}: onnxruntime's ${provider} execution provider ${why}`;
}
