import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from '../src/engine/onnx/graph.js';
import { ProtoWriter, encodeModel } from '../src/engine/onnx/proto.js';

test('protobuf varints: small, multi-byte and negative int64 (ten bytes, two\'s complement)', () => {
  const bytes = (v: number | bigint) => {
    const w = new ProtoWriter();
    w.varint(v);
    return Array.from(w.finish());
  };
  assert.deepEqual(bytes(0), [0]);
  assert.deepEqual(bytes(1), [1]);
  assert.deepEqual(bytes(300), [0xac, 0x02]);
  assert.deepEqual(bytes(-1), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.deepEqual(bytes(2n ** 40n), [0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
});

test('a nested message carries its length and the payload bytes in order', () => {
  const w = new ProtoWriter();
  w.message(7, (m) => {
    m.int(1, 150);
    m.bytes(9, Uint8Array.of(1, 2, 3));
  });
  // field 7 wire 2 = 0x3a, length 8: [0x08 0x96 0x01] [0x4a 0x03 1 2 3]
  assert.deepEqual(Array.from(w.finish()), [0x3a, 8, 0x08, 0x96, 0x01, 0x4a, 3, 1, 2, 3]);
});

test('onnxruntime loads a MatMul + Add graph we wrote, with symbolic batch dims, and computes it', async () => {
  const g = new GraphBuilder('tiny');
  const x = g.input('x', DataType.FLOAT, ['batch', 3]);
  const w = g.floats('w', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
  const b = g.floats('b', [2], Float32Array.from([0.5, -1]));
  g.output('y', g.add(g.matmul(x, w), b), DataType.FLOAT, ['batch', 2]);
  const bytes = encodeModel(g.toModel({ producerName: 'test', producerVersion: '0' }));
  const session = await ort.InferenceSession.create(bytes);
  assert.deepEqual(session.inputNames, ['x']);
  assert.deepEqual(session.outputNames, ['y']);
  for (const rows of [1, 4]) {
    const xs = Float32Array.from({ length: rows * 3 }, (_, i) => i - 2);
    const { y } = await session.run({ x: new ort.Tensor('float32', xs, [rows, 3]) });
    assert.deepEqual(y.dims, [rows, 2]);
    const expected: number[] = [];
    for (let r = 0; r < rows; r++) {
      const [a, c, e] = [xs[r * 3], xs[r * 3 + 1], xs[r * 3 + 2]];
      expected.push(a * 1 + c * 3 + e * 5 + 0.5, a * 2 + c * 4 + e * 6 - 1);
    }
    assert.deepEqual(Array.from(y.data as Float32Array), expected);
  }
  await session.release();
});
