/**
 * What the tfjs `webgpu` backend (4.22) needs to give right answers under current Dawn in Node.
 *
 * 1. Cast int32/bool -> float32. The backend implements it as a shallow copy that keeps the
 *    integer GPU buffer. A later kernel that reads the buffer without converting it (the
 *    Transpose program, used inside reductions over a non-last axis such as mean pooling)
 *    then fails to compile under today's WGSL compiler, and the op silently yields zeros
 *    (tensorflow/tfjs#8638). We make the cast a real conversion: an Add of 0.0, whose
 *    generated shader reads every input through a typed getter.
 * 2. WebGPU reports validation errors as events, not exceptions, so a failed kernel would
 *    only print to stderr and leave garbage behind. We record them; `takeWebgpuError()` lets
 *    the caller stop with a message instead of writing wrong numbers.
 */
import * as tf from '@tensorflow/tfjs-core';

let fixesRegistered = false;
let firstError: string | null = null;

interface GpuDeviceLike {
  addEventListener(type: 'uncapturederror', listener: (e: { error?: { message?: string } }) => void): void;
}

export function installWebgpuFixes(): void {
  if (fixesRegistered) return;
  const cast = tf.getKernel('Cast', 'webgpu');
  const add = tf.getKernel('Add', 'webgpu');
  if (!cast || !add) return;
  fixesRegistered = true;
  tf.unregisterKernel('Cast', 'webgpu');
  tf.registerKernel({
    ...cast,
    kernelFunc: (args) => {
      const x = (args.inputs as { x: tf.TensorInfo }).x;
      const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
      if (dtype !== 'float32' || (x.dtype !== 'int32' && x.dtype !== 'bool')) return cast.kernelFunc(args);
      const backend = args.backend as tf.KernelBackend & { makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo };
      const zero = backend.makeTensorInfo([], 'float32', new Float32Array([0]));
      try {
        return add.kernelFunc({ inputs: { a: x, b: zero }, backend, attrs: {} });
      } finally {
        backend.disposeData(zero.dataId);
      }
    },
  });
  const device = (tf.findBackend('webgpu') as unknown as { device?: GpuDeviceLike } | null)?.device;
  device?.addEventListener('uncapturederror', (e) => {
    firstError ??= (e.error?.message ?? 'unknown error').split('\n')[0];
  });
}

/** The first WebGPU error since the last call (and forget it), or null. */
export function takeWebgpuError(): string | null {
  const e = firstError;
  firstError = null;
  return e;
}
