/**
 * NumPy `.npy` files, version 1.0, float32 only: what `encode` writes so Python can
 * `np.load("emb.npy")` the embeddings. Format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 *
 *   "\x93NUMPY" | major 1 | minor 0 | u16 LE header length | header | data
 *
 * The header is a Python dict literal, `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }`,
 * padded with spaces and ended by '\n' so that magic + lengths + header is a multiple of 64
 * bytes (NumPy's own writer aligns to 64 since 1.16; the spec asks for 16, 64 satisfies both).
 * Data follows in C order, little-endian.
 */
import { readFileSync } from 'node:fs';
import { DataError } from '../errors.js';
import { writeFileAtomic } from './fs.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93 N U M P Y
const ALIGN = 64;

/** Python's tuple literal for a shape: `(3,)` for one dimension, `()` for a scalar. */
function shapeTuple(shape: number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The bytes of a float32 .npy file holding `data` (C order) with `shape`. */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`internal: npy: invalid shape [${shape}]`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`internal: npy: shape [${shape}] holds ${n} values, got ${data.length}`);
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeTuple(shape)}, }`;
  const fixed = MAGIC.length + 2 + 2; // magic, version, header length
  const total = Math.ceil((fixed + header.length + 1) / ALIGN) * ALIGN;
  header = header.padEnd(total - fixed - 1, ' ') + '\n';
  if (header.length > 0xffff) throw new Error('internal: npy: header too long for format version 1.0');

  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1; // major
  out[7] = 0; // minor
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[fixed + i] = header.charCodeAt(i);
  // Typed arrays use host byte order, little-endian on every platform Node runs on ('<f4').
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Write rows of equal length as a float32 [rows.length, dim] .npy file, atomically. */
export function writeNpyRows(path: string, rows: Float32Array[], dim: number): void {
  const flat = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => {
    if (r.length !== dim) throw new Error(`internal: npy: row ${i} has ${r.length} values, expected ${dim}`);
    flat.set(r, i * dim);
  });
  writeFileAtomic(path, encodeNpy(flat, [rows.length, dim]));
}

/** Write a float32 array with `shape` as a .npy file, atomically. */
export function writeNpy(path: string, data: Float32Array, shape: number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}

/**
 * Read a little-endian float32, C-order .npy file (what we write; also NumPy's default for
 * float32 arrays). Other dtypes or Fortran order are refused with a message naming the file.
 */
export function readNpy(path: string): { data: Float32Array; shape: number[] } {
  const bytes = readFileSync(path);
  const fail = (why: string): never => {
    throw new DataError(`${path}: ${why}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (bad magic)');
  const major = bytes[6];
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = 8 + lenBytes + headerLen;
  if (start > bytes.length) fail('truncated header');
  const header = bytes.subarray(8 + lenBytes, start).toString('latin1');
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  if (descr !== '<f4') fail(`dtype ${descr ?? '?'} is not little-endian float32 ('<f4')`);
  if (!/'fortran_order':\s*False/.test(header)) fail('Fortran-order arrays are not supported');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) fail('header has no shape');
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - start !== 4 * n) fail(`expected ${4 * n} data bytes for shape (${shape.join(', ')}), found ${bytes.length - start}`);
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(bytes.subarray(start));
  return { data, shape };
}
