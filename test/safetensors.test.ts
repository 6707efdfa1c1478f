import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../src/errors.js';
import { expectTensor, halfToFloat, readSafetensors, readSafetensorsFile, writeSafetensors } from '../src/models/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
/** A file built by hand: 8-byte little-endian length, the header text as given, then data. */
function rawFile(headerText: string, data: number[] | Uint8Array = []): string {
  const header = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const path = join(dir, `t${counter++}.safetensors`);
  writeFileSync(path, Buffer.concat([len, header, Buffer.from(data)]));
  return path;
}

function f32Bytes(values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeFloatLE(v, 4 * i));
  return b;
}

/** Assert a one-line ModelError naming the file and matching `pattern`. */
function assertModelError(fn: () => unknown, path: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected ModelError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('reads F32 tensors from a hand-built file, scalars and empty tensors included', () => {
  const header = JSON.stringify({
    __metadata__: { format: 'pt' },
    w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    s: { dtype: 'F32', shape: [], data_offsets: [16, 20] },
    e: { dtype: 'F32', shape: [0, 3], data_offsets: [20, 20] },
  });
  const path = rawFile(header, f32Bytes([1, -2.5, 3, 0.125, 42]));
  const { tensors, metadata } = readSafetensorsFile(path);
  assert.deepEqual(metadata, { format: 'pt' });
  assert.deepEqual([...tensors.keys()].sort(), ['e', 's', 'w']);
  assert.deepEqual(tensors.get('w')!.shape, [2, 2]);
  assert.deepEqual([...tensors.get('w')!.data], [1, -2.5, 3, 0.125]);
  assert.equal(tensors.get('w')!.dtype, 'F32');
  assert.deepEqual([...tensors.get('s')!.data], [42]);
  assert.equal(tensors.get('e')!.data.length, 0);
});

test('reads F32 data that starts at an unaligned file offset', () => {
  // Trailing spaces make 8 + header length = 1 (mod 4): the data is not 4-byte aligned.
  let header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  while ((8 + header.length) % 4 !== 1) header += ' ';
  const path = rawFile(header, f32Bytes([0.5, -7]));
  assert.deepEqual([...readSafetensors(path).get('x')!.data], [0.5, -7]);
});

test('decodes F16 from hand-made bits: normals, subnormals, signed zero, infinities, NaN', () => {
  const bits = [0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00];
  const expected = [1, -2, 0.333251953125, 65504, 2 ** -24, 2 ** -14, -0, Infinity, -Infinity, NaN];
  const data = Buffer.alloc(2 * bits.length);
  bits.forEach((b, i) => data.writeUInt16LE(b, 2 * i));
  const path = rawFile(JSON.stringify({ h: { dtype: 'F16', shape: [bits.length], data_offsets: [0, data.length] } }), data);
  const t = readSafetensors(path).get('h')!;
  assert.equal(t.dtype, 'F16');
  expected.forEach((v, i) => assert.ok(Object.is(t.data[i], Math.fround(v)), `bits 0x${bits[i].toString(16)}: got ${t.data[i]}, want ${v}`));
  assert.equal(halfToFloat(0x3c01), 1 + 2 ** -10);
});

test('decodes BF16 as the top 16 bits of a float32', () => {
  const bits = [0x3f80, 0xc040, 0x3eab, 0x7f80, 0x0000, 0x8000, 0x4049];
  const expected = [1, -3, 0.333984375, Infinity, 0, -0, 3.140625];
  const data = Buffer.alloc(2 * bits.length);
  bits.forEach((b, i) => data.writeUInt16LE(b, 2 * i));
  const path = rawFile(JSON.stringify({ b: { dtype: 'BF16', shape: [7], data_offsets: [0, 14] } }), data);
  const t = readSafetensors(path).get('b')!;
  expected.forEach((v, i) => assert.ok(Object.is(t.data[i], v), `bits 0x${bits[i].toString(16)}: got ${t.data[i]}, want ${v}`));
});

test('decodes integer buffers (I64 position_ids, I32, U8, BOOL) and F64 to float32', () => {
  const i64 = Buffer.alloc(24);
  [0n, 1n, 511n].forEach((v, i) => i64.writeBigInt64LE(v, 8 * i));
  const i32 = Buffer.alloc(8);
  i32.writeInt32LE(-5, 0);
  i32.writeInt32LE(123456, 4);
  const f64 = Buffer.alloc(8);
  f64.writeDoubleLE(0.1, 0);
  const u8 = Buffer.from([255, 0]);
  const bool = Buffer.from([1, 0]);
  const data = Buffer.concat([i64, i32, f64, u8, bool]);
  const header = JSON.stringify({
    position_ids: { dtype: 'I64', shape: [1, 3], data_offsets: [0, 24] },
    i: { dtype: 'I32', shape: [2], data_offsets: [24, 32] },
    d: { dtype: 'F64', shape: [1], data_offsets: [32, 40] },
    u: { dtype: 'U8', shape: [2], data_offsets: [40, 42] },
    m: { dtype: 'BOOL', shape: [2], data_offsets: [42, 44] },
  });
  const t = readSafetensors(rawFile(header, data));
  assert.deepEqual([...t.get('position_ids')!.data], [0, 1, 511]);
  assert.equal(t.get('position_ids')!.dtype, 'I64');
  assert.deepEqual([...t.get('i')!.data], [-5, 123456]);
  assert.equal(t.get('d')!.data[0], Math.fround(0.1));
  assert.deepEqual([...t.get('u')!.data], [255, 0]);
  assert.deepEqual([...t.get('m')!.data], [1, 0]);
});

test('writes the reference layout: sorted names, metadata, space-padded 8-byte-aligned header', () => {
  const path = join(dir, 'layout.safetensors');
  const tensors = new Map([
    ['b', { shape: [2], data: new Float32Array([1, 2]) }],
    ['a', { shape: [], data: new Float32Array([3]) }],
  ]);
  writeSafetensors(path, tensors, { format: 'pt' });
  const bytes = readFileSync(path);
  const expectedHeader =
    '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  assert.equal(n, Math.ceil(expectedHeader.length / 8) * 8);
  assert.equal(bytes.subarray(8, 8 + n).toString('utf8'), expectedHeader.padEnd(n, ' '));
  assert.deepEqual(bytes.subarray(8 + n), f32Bytes([3, 1, 2]));
  // Nothing but the target is left in the folder (the temp file was renamed over it).
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('layout')), ['layout.safetensors']);
});

test('round trip keeps names, shapes, values and metadata exactly', () => {
  const path = join(dir, 'roundtrip.safetensors');
  const vals = new Float32Array(5 * 3).map((_, i) => Math.fround(Math.sin(i) * 1e3) / 7);
  const tensors = new Map([
    ['encoder.layer.0.attention.self.query.weight', { shape: [5, 3], data: vals }],
    ['embeddings.LayerNorm.bias', { shape: [3], data: new Float32Array([-0, 1e-30, -3e38]) }],
  ]);
  writeSafetensors(path, tensors, { format: 'pt', note: 'ünïcode ✓' });
  const back = readSafetensorsFile(path);
  assert.deepEqual(back.metadata, { format: 'pt', note: 'ünïcode ✓' });
  for (const [name, t] of tensors) {
    const r = back.tensors.get(name)!;
    assert.deepEqual(r.shape, t.shape);
    assert.deepEqual(Array.from(r.data), Array.from(t.data));
    assert.equal(r.dtype, 'F32');
  }
  // A view into a larger buffer is written from its own offset.
  const big = new Float32Array([9, 8, 7, 6]);
  writeSafetensors(path, new Map([['v', { shape: [2], data: big.subarray(1, 3) }]]));
  assert.deepEqual([...readSafetensors(path).get('v')!.data], [8, 7]);
});

test('writer refuses a shape that does not match the values', () => {
  assert.throws(() => writeSafetensors(join(dir, 'bad.safetensors'), new Map([['x', { shape: [2, 2], data: new Float32Array(3) }]])), /shape \[2,2\]/);
});

test('file problems are one-line ModelErrors naming the file', () => {
  const missing = join(dir, 'nope.safetensors');
  assertModelError(() => readSafetensors(missing), missing, /not found/);

  const folder = join(dir, 'a-folder');
  mkdirSync(folder);
  assertModelError(() => readSafetensors(folder), folder, /is a folder/);

  const short = join(dir, 'short.safetensors');
  writeFileSync(short, Buffer.from([1, 0, 0]));
  assertModelError(() => readSafetensors(short), short, /shorter than the 8-byte header length/);

  const huge = join(dir, 'huge.safetensors');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(1n << 40n);
  writeFileSync(huge, len);
  assertModelError(() => readSafetensors(huge), huge, /over the 100 MB limit/);

  const cut = join(dir, 'cut-header.safetensors');
  const l2 = Buffer.alloc(8);
  l2.writeBigUInt64LE(100n);
  writeFileSync(cut, Buffer.concat([l2, Buffer.from('{"a":')]));
  assertModelError(() => readSafetensors(cut), cut, /truncated: header says 100 header bytes/);
});

test('header problems are one-line ModelErrors naming the file', () => {
  const cases: [string, number[] | Buffer, RegExp][] = [
    ['{"a": ', [], /header is not valid JSON/],
    ['[1, 2]', [], /header is not a JSON object/],
    ['null', [], /header is not a JSON object/],
    ['{"__metadata__": {"k": 1}}', [], /__metadata__\.k is not a string/],
    ['{"x": 5}', [], /tensor 'x': header entry is not an object/],
    ['{"x": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}', f32Bytes([1]), /tensor 'x': unknown dtype "F33"/],
    ['{"x": {"shape": [1], "data_offsets": [0, 4]}}', f32Bytes([1]), /unknown dtype undefined/],
    ['{"x": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}', [0], /dtype F8_E4M3 is not supported/],
    ['{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}', f32Bytes([1]), /shape \[-1\] is not a list of non-negative integers/],
    ['{"x": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}', f32Bytes([1]), /not a list of non-negative integers/],
    ['{"x": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}', f32Bytes([1]), /not a list of non-negative integers/],
    ['{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}', f32Bytes([1]), /data_offsets \[0,4,8\] is not \[begin, end\]/],
    ['{"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}', f32Bytes([1]), /0 <= begin <= end/],
    ['{"x": {"dtype": "F32", "shape": [1]}}', f32Bytes([1]), /data_offsets undefined/],
    ['{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}', f32Bytes([1]), /span 4 bytes but F32 \[2\] needs 8/],
    ['{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', f32Bytes([1]), /run past the end of the data buffer \(4 bytes; truncated file\?\)/],
    [
      '{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
      f32Bytes([1, 2]),
      /tensor 'y': .* overlap the previous tensor/,
    ],
    [
      '{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "y": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}',
      f32Bytes([1, 2, 3]),
      /tensor 'y': .* leave a gap after byte 4/,
    ],
    ['{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', f32Bytes([1, 2]), /has 8 bytes but the tensors cover 4 \(trailing bytes\)/],
  ];
  for (const [header, data, pattern] of cases) {
    const path = rawFile(header, data);
    assertModelError(() => readSafetensors(path), path, pattern);
  }
});

test('a file cut short after writing is reported as truncated', () => {
  const path = join(dir, 'cut.safetensors');
  writeSafetensors(path, new Map([['w', { shape: [4], data: new Float32Array([1, 2, 3, 4]) }]]));
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 3));
  assertModelError(() => readSafetensors(path), path, /tensor 'w': data_offsets \[0, 16\] run past the end .*truncated file/);
});

test('expectTensor names the file, the tensor and both shapes', () => {
  const t = new Map([['w', { shape: [2, 3], data: new Float32Array(6), dtype: 'F32' as const }]]);
  assert.equal(expectTensor(t, 'w', [2, 3], 'm.safetensors').shape[1], 3);
  assertModelError(() => expectTensor(t, 'b', [3], 'm.safetensors'), 'm.safetensors', /^m\.safetensors: missing tensor 'b'$/);
  assertModelError(() => expectTensor(t, 'w', [3, 2], 'm.safetensors'), 'm.safetensors', /^m\.safetensors: tensor 'w' has shape \[2,3\], expected \[3,2\]$/);
  assertModelError(() => expectTensor(t, 'w', [6], 'm.safetensors'), 'm.safetensors', /has shape \[2,3\], expected \[6\]/);
});
