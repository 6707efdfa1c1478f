/**
 * Kernels the tfjs wasm backend (4.22) lacks for training, registered once when the wasm
 * backend is chosen.
 *
 * `UnsortedSegmentSum`: tfjs writes the gradient of `tf.gather` (so of any embedding lookup
 * or row selection) with it, and the wasm backend has no implementation, so backprop through a
 * plain `tf.gather` fails there. Our own `embeddingLookup` (ops.ts) does not need it (it
 * scatters with the native `ScatterNd`), but other code may call `tf.gather` directly (pooling,
 * losses), so we add a straightforward JS kernel working on the wasm heap. It is a single pass
 * over the rows: memory-bound and cheap next to the matmuls around it.
 * Semantics follow TensorFlow's tf.math.unsorted_segment_sum
 * (https://www.tensorflow.org/api_docs/python/tf/math/unsorted_segment_sum): ids outside
 * [0, numSegments) are dropped, segments with no rows are zero.
 *
 * `Identity`: the engine clones every tensor it saves for a backward pass (tf.customGrad's
 * `save`, each kernel's saved inputs / outputs) through the Identity kernel, and wasm's copies
 * the data. A MiniLM training step at batch 32 x 128 tokens saves gigabytes that way and ran
 * out of the 4 GB wasm heap. Tensor data is immutable in tfjs (Variable.assign swaps the
 * data id, it never writes in place), so, as the cpu backend's Identity does, we share the
 * buffer and count a reference instead of copying.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The slice of BackendWasm's interface this file uses (the class is not re-exported as a type we can rely on). */
interface WasmBackendLike {
  incRef(dataId: unknown): void;
  readSync(dataId: unknown): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

let registered = false;

function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x!;
  const segmentIds = args.inputs.segmentIds!;
  const numSegments = (args.attrs as unknown as { numSegments: number }).numSegments;
  const idsCount = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rowShape = x.shape.slice(segmentIds.shape.length);
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  const outDtype = x.dtype === 'int32' ? 'int32' : 'float32';
  // Read the inputs before allocating the output: allocation may grow (and so detach) the heap.
  const xs = Float64Array.from(backend.readSync(x.dataId));
  const ids = backend.readSync(segmentIds.dataId);
  const out = backend.makeOutput([numSegments, ...rowShape], outDtype);
  const o = backend.typedArrayFromHeap(out);
  o.fill(0);
  for (let r = 0; r < idsCount; r++) {
    const s = ids[r]!;
    if (s < 0 || s >= numSegments) continue;
    const src = r * rowSize;
    const dst = s * rowSize;
    for (let j = 0; j < rowSize; j++) o[dst + j]! += xs[src + j]!;
  }
  return out;
}

function identity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x!;
  (args.backend as WasmBackendLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export function registerWasmExtras(): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('UnsortedSegmentSum', 'wasm')) {
    tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as tf.KernelFunc });
  }
  if (tf.getKernel('Identity', 'wasm')) tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity as tf.KernelFunc });
}
