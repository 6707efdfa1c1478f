/**
 * ops.ts on the cpu and wasm backends: values and gradients agree with the naive tf formula
 * evaluated on the cpu backend (tfjs's own gradients), and nothing leaks. Also checks that
 * every other op a BERT layer or a loss needs runs forward and backward on wasm.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { activation, attention, embeddingLookup, gelu, geluTanh, layerNorm, linear, matmul } from '../src/backend/ops.js';
import { values as valuesIn } from './helpers/values.js';

/** Inputs in [-1.5, 1.5), the same on every backend. */
const values = (n: number, seed: number): Float32Array => valuesIn(n, seed, 1.5);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, atol = 2e-5, rtol = 2e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    assert.ok(d <= atol + rtol * Math.abs(expected[i]!), `${what}[${i}]: ${actual[i]} vs ${expected[i]} (diff ${d})`);
  }
}

type Fn = (...xs: tf.Tensor[]) => tf.Tensor;

/**
 * Value of f and gradient of sum(f * w) (w fixed, non-uniform, so every output element matters)
 * with respect to every input, as plain arrays. Inputs are created on the current backend.
 */
function valueAndGrads(f: Fn, shapes: number[][], seed: number): { value: Float32Array; grads: Float32Array[] } {
  return tf.tidy(() => {
    const xs = shapes.map((s, i) => tf.tensor(values(s.reduce((a, b) => a * b, 1), seed + i), s));
    const out = f(...xs);
    const w = tf.tensor(values(out.size, seed + 99), out.shape);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys), w)))(xs);
    return { value: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
  });
}

/** Compare `f` on `backend` with the reference formula on cpu, and check for leaks on `backend`. */
async function agrees(backend: string, f: Fn, reference: Fn, shapes: number[][], seed = 1): Promise<void> {
  await tf.setBackend('cpu');
  const ref = valueAndGrads(reference, shapes, seed);
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const got = valueAndGrads(f, shapes, seed);
  assert.equal(tf.memory().numTensors, before, 'tensor leak');
  close(got.value, ref.value, 'value');
  got.grads.forEach((g, i) => close(g, ref.grads[i]!, `grad ${i}`));
}

const BACKENDS = ['cpu', 'wasm'];

before(async () => {
  await initBackend('wasm', { quiet: true });
});

after(async () => {
  await tf.setBackend('wasm');
});

for (const backend of BACKENDS) {
  describe(`ops on ${backend}`, () => {
    test('linear (rank 3 input, with and without bias) = x @ W + b', async () => {
      await agrees(backend, (x, w, b) => linear(x!, w as tf.Tensor2D, b as tf.Tensor1D),
        (x, w, b) => tf.add(tf.reshape(tf.matMul(tf.reshape(x!, [6, 5]), w as tf.Tensor2D), [2, 3, 4]), b!),
        [[2, 3, 5], [5, 4], [4]]);
      await agrees(backend, (x, w) => linear(x!, w as tf.Tensor2D), (x, w) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), [[7, 3], [3, 9]], 5);
      // wide output: exercises the other transpose choice in the weight gradient
      await agrees(backend, (x, w) => linear(x!, w as tf.Tensor2D), (x, w) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), [[3, 4], [4, 40]], 6);
    });

    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      test(`matmul transposeA=${ta} transposeB=${tb}, batch 3 and batch 1`, async () => {
        for (const n of [3, 1]) {
          const aShape = ta ? [n, 4, 5] : [n, 5, 4];
          const bShape = tb ? [n, 6, 4] : [n, 4, 6];
          await agrees(backend, (a, b) => matmul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb),
            (a, b) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, ta, tb), [aShape, bShape], 10 + n);
        }
      });
    }

    test('matmul with attention shapes (q @ k^T, probs @ v)', async () => {
      await agrees(backend, (q, k) => matmul(q as tf.Tensor3D, k as tf.Tensor3D, false, true),
        (q, k) => tf.matMul(q as tf.Tensor3D, k as tf.Tensor3D, false, true), [[6, 9, 8], [6, 9, 8]], 21);
      await agrees(backend, (p, v) => matmul(p as tf.Tensor3D, v as tf.Tensor3D),
        (p, v) => tf.matMul(p as tf.Tensor3D, v as tf.Tensor3D), [[6, 9, 9], [6, 9, 8]], 22);
    });

    test('attention = softmax(q k^T * scale + mask) v, gradients for q, k, v', async () => {
      // batch 2, heads 3, T 5, headDim 4; the second sentence has its last two tokens masked
      const mask = () => tf.tensor4d([0, 0, 0, 0, 0, 0, 0, 0, -1e9, -1e9], [2, 1, 1, 5]);
      const naive: Fn = (q, k, v) => {
        const s = tf.reshape(tf.mul(tf.matMul(q as tf.Tensor3D, k as tf.Tensor3D, false, true), 0.5), [2, 3, 5, 5]);
        return tf.matMul(tf.reshape(tf.softmax(tf.add(s, mask())), [6, 5, 5]) as tf.Tensor3D, v as tf.Tensor3D);
      };
      const fused: Fn = (q, k, v) => attention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, mask(), 0.5);
      await agrees(backend, fused, naive, [[6, 5, 4], [6, 5, 4], [6, 5, 4]], 25);
      await agrees(backend, (q, k, v) => attention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, null, 0.3),
        (q, k, v) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q as tf.Tensor3D, k as tf.Tensor3D, false, true), 0.3)) as tf.Tensor3D, v as tf.Tensor3D),
        [[4, 3, 2], [4, 3, 2], [4, 3, 2]], 26);
    });

    test('layerNorm = (x - mean) / sqrt(var + eps) * gamma + beta', async () => {
      const naive: Fn = (x, g, b) => {
        const n = x!.shape[x!.shape.length - 1]!;
        const mean = tf.div(tf.sum(x!, -1, true), n);
        const c = tf.sub(x!, mean);
        const v = tf.div(tf.sum(tf.mul(c, c), -1, true), n);
        return tf.add(tf.mul(tf.div(c, tf.sqrt(tf.add(v, 1e-12))), g!), b!);
      };
      await agrees(backend, (x, g, b) => layerNorm(x!, g as tf.Tensor1D, b as tf.Tensor1D, 1e-12), naive, [[2, 3, 8], [8], [8]], 30);
    });

    test('gelu (erf) and geluTanh match their formulas', async () => {
      // exact gelu via Phi(x) = (1 + erf(x / sqrt 2)) / 2, written with div instead of mul
      await agrees(backend, (x) => gelu(x!), (x) => tf.mul(x!, tf.div(tf.add(tf.erf(tf.div(x!, Math.SQRT2)), 1), 2)), [[4, 7]], 40);
      const c = Math.sqrt(2 / Math.PI);
      await agrees(backend, (x) => geluTanh(x!),
        (x) => tf.mul(tf.mul(x!, 0.5), tf.add(1, tf.tanh(tf.mul(c, tf.add(x!, tf.mul(0.044715, tf.mul(x!, tf.mul(x!, x!)))))))), [[4, 7]], 41);
    });

    test('gelu at hand-computed points', async () => {
      await tf.setBackend(backend);
      const y = tf.tidy(() => gelu(tf.tensor1d([0, 1, -1, 2])).dataSync());
      // x * Phi(x): Phi(1) = 0.8413447, Phi(2) = 0.9772499
      close(y, [0, 0.8413447, -0.1586553, 1.9544997], 'gelu', 1e-5);
    });

    test('activation() names', async () => {
      await agrees(backend, (x) => activation('silu')(x!), (x) => tf.div(x!, tf.add(1, tf.exp(tf.neg(x!)))), [[3, 5]], 50);
      await agrees(backend, (x) => activation('tanh')(x!), (x) => tf.tanh(x!), [[3, 5]], 51);
      await agrees(backend, (x) => activation('sigmoid')(x!), (x) => tf.sigmoid(x!), [[3, 5]], 52);
      await agrees(backend, (x) => activation('relu')(x!), (x) => tf.maximum(x!, 0), [[3, 5]], 53);
      assert.strictEqual(activation('gelu_new'), geluTanh);
      assert.throws(() => activation('nope'), /unsupported activation 'nope'/);
    });

    test('embeddingLookup: rows, and a gradient that sums repeated ids', async () => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const table = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]);
      const ids = Int32Array.from([2, 0, 2, 2]);
      const rows = embeddingLookup(table, ids, [2, 2]);
      assert.deepEqual(rows.arraySync(), [[[5, 6], [1, 2]], [[5, 6], [5, 6]]]);
      const w = tf.tensor3d([[[1, 10], [100, 1000]], [[2, 20], [3, 30]]]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, ids, [2, 2]), w)))(table);
      // id 2 appears at (0,0), (1,0), (1,1): 1+2+3, 10+20+30; id 0 at (0,1); ids 1 and 3 never
      assert.deepEqual(g.arraySync(), [[100, 1000], [0, 0], [6, 60], [0, 0]]);
      tf.dispose([table, rows, w, g]);
      assert.equal(tf.memory().numTensors, before, 'tensor leak');
    });
  });
}

describe('wasm covers every op the encoder and losses need, forward and backward', () => {
  // Each is compared against the same expression on cpu.
  const cases: [string, Fn, number[][]][] = [
    ['erf', (x) => tf.erf(x!), [[3, 4]]],
    ['softmax', (x) => tf.softmax(x!), [[2, 3, 5]]],
    ['logSoftmax', (x) => tf.logSoftmax(x!), [[3, 5]]],
    ['tanh', (x) => tf.tanh(x!), [[3, 4]]],
    ['gather (tf.gather, via UnsortedSegmentSum)', (x) => tf.gather(x!, tf.tensor1d([3, 0, 3, 1], 'int32')), [[4, 3]]],
    ['gather axis 1', (x) => tf.gather(x!, tf.tensor1d([0, 0, 2], 'int32'), 1), [[2, 3, 2]]],
    ['reshape + transpose', (x) => tf.transpose(tf.reshape(x!, [2, 3, 2, 2]), [0, 2, 1, 3]), [[2, 3, 4]]],
    ['sum / mean', (x) => tf.add(tf.sum(x!, -1), tf.mean(x!, 1)), [[3, 4]]],
    ['rsqrt / sqrt', (x) => tf.add(tf.rsqrt(tf.add(tf.square(x!), 0.5)), tf.sqrt(tf.add(tf.abs(x!), 0.1))), [[3, 4]]],
    // the condition is data, as an attention mask is (tfjs has no gradient for comparisons)
    ['where (mask)', (x, y) => tf.where(tf.tensor2d([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], [3, 4], 'bool'), x!, tf.mul(y!, 3)), [[3, 4], [3, 4]]],
    ['acos (angular similarity)', (x) => tf.acos(tf.mul(x!, 0.6)), [[3, 4]]],
    ['clipByValue', (x) => tf.clipByValue(x!, -0.5, 0.7), [[3, 4]]],
    ['maximum / minimum', (x, y) => tf.add(tf.maximum(x!, y!), tf.minimum(x!, 0.2)), [[3, 4], [3, 4]]],
    ['pow / exp / log', (x) => tf.add(tf.pow(x!, 3), tf.log(tf.add(tf.exp(x!), 1))), [[3, 4]]],
    ['div / neg / sigmoid', (x, y) => tf.div(tf.neg(x!), tf.add(tf.sigmoid(y!), 1)), [[3, 4], [3, 4]]],
    ['concat / slice / stack', (x, y) => tf.slice(tf.concat([x!, tf.stack([y!, y!], 0)], 0), [1, 1], [3, 2]), [[2, 3], [3]]],
    ['max (pooling)', (x) => tf.max(x!, 1), [[3, 4]]],
    ['expandDims / tile / broadcast add', (x, y) => tf.add(tf.tile(tf.expandDims(x!, 0), [2, 1]), y!), [[4], [2, 4]]],
  ];
  before(async () => {
    await tf.setBackend('wasm');
  });
  for (const [name, f, shapes] of cases) {
    test(name, async () => {
      await agrees('wasm', f, f, shapes, name.length);
    });
  }

  test('plain tf.gather gradient on wasm equals cpu, also for ids out of order and repeated', async () => {
    const grad = async (backend: string) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const t = tf.tensor2d(values(50 * 6, 7), [50, 6]);
        const ids = tf.tensor2d([[49, 3, 3], [0, 49, 7]], [2, 3], 'int32');
        const w = tf.tensor(values(36, 8), [2, 3, 6]);
        return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, ids), w)))(t).dataSync();
      });
    };
    close(await grad('wasm'), await grad('cpu'), 'gather grad');
  });
});
