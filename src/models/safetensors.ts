/**
 * safetensors reading and writing, the weight format of Hugging Face and sentence-transformers
 * model folders. Layout (https://github.com/huggingface/safetensors, README "Format"):
 *
 *   [8 bytes]  N, the header length, unsigned 64-bit little-endian
 *   [N bytes]  a UTF-8 JSON object: { name: { dtype, shape, data_offsets: [begin, end] }, ...,
 *              "__metadata__"?: { string: string } }
 *   [rest]     the data buffer; offsets are relative to its start, tensors are row-major (C
 *              order) and little-endian.
 *
 * The reader treats the file as untrusted: every number in the header is checked against the
 * file before a byte is read, and the tensors must tile the data buffer exactly (no gaps, no
 * overlaps, nothing left over), which is what the reference implementation demands as well.
 * Every problem is a ModelError with one line naming the file.
 *
 * All floating dtypes (F64, F32, F16, BF16) and the integer / BOOL dtypes are decoded to
 * Float32Array, since every consumer (tfjs variables) wants float32. Integer tensors in model
 * checkpoints are buffers such as BERT's `embeddings.position_ids` (I64, values < 2^24), which
 * float32 holds exactly; integers beyond 2^24 would lose precision, which no weight we load
 * needs. The original dtype is kept in the `dtype` field. The 8-bit float dtypes (F8_*) are
 * recognised but not supported.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ModelError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { firstNonFinite } from './finite.js';

/** Bytes per element of every dtype the format defines. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** The dtypes we decode (everything but the 8-bit floats). */
export const SUPPORTED_DTYPES = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'] as const;
export type Dtype = (typeof SUPPORTED_DTYPES)[number];

/** One decoded tensor: its shape, values as float32, and the dtype it was stored with. */
export interface TensorData {
  shape: number[];
  data: Float32Array;
  dtype: Dtype;
}

/** What `writeSafetensors` takes: float32 values and their row-major shape. */
export interface TensorInput {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Read a .safetensors file; tensors by name, values decoded to float32 (see the module doc). */
export function readSafetensors(path: string): Map<string, TensorData> {
  return readSafetensorsFile(path).tensors;
}

/** Read a .safetensors file with its `__metadata__`. */
export function readSafetensorsFile(path: string): SafetensorsFile {
  if (!existsSync(path)) throw new ModelError(`${path}: weight file not found`);
  if (statSync(path).isDirectory()) throw new ModelError(`${path}: is a folder, expected a .safetensors file`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ModelError(`${path}: cannot read weight file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSafetensors(bytes, path);
}

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Parse safetensors bytes held in memory; `file` names the source in error messages. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new ModelError(`${file}: ${problem}`);
  };
  if (bytes.length < 8) fail(`not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen64} is over the 100 MB limit (corrupt or not a safetensors file)`);
  const headerLen = Number(headerLen64);
  if (8 + headerLen > bytes.length) fail(`truncated: header says ${headerLen} header bytes but the file has only ${bytes.length - 8} after the length`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    entries.push(parseEntry(name, raw, fail));
  }

  // The tensors must tile [0, dataLen) exactly, as the reference's validation requires.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of sorted) {
    if (e.end > dataLen) fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] run past the end of the data buffer (${dataLen} bytes; truncated file?)`);
    if (e.begin < covered) fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${covered})`);
    if (e.begin > covered) fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${covered} (tensors must be contiguous)`);
    covered = e.end;
  }
  if (covered !== dataLen) fail(`the data buffer has ${dataLen} bytes but the tensors cover ${covered} (trailing bytes)`);

  const tensors = new Map<string, TensorData>();
  for (const e of entries) {
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data: decode(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end)) });
  }
  return { tensors, metadata };
}

function parseEntry(name: string, raw: unknown, fail: (p: string) => never): Entry {
  const where = `tensor '${name}'`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`${where}: header entry is not an object`);
  const r = raw as Record<string, unknown>;
  const dtype = r.dtype;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZES)) {
    fail(`${where}: unknown dtype ${JSON.stringify(dtype)}; known: ${Object.keys(DTYPE_SIZES).join(', ')}`);
  }
  if (!(SUPPORTED_DTYPES as readonly string[]).includes(dtype as string)) fail(`${where}: dtype ${dtype} is not supported (supported: ${SUPPORTED_DTYPES.join(', ')})`);
  const shape = r.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  const offsets = r.data_offsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    fail(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const dims = shape as number[];
  const expected = dims.reduce((a, b) => a * b, 1) * DTYPE_SIZES[dtype as string];
  if (!Number.isSafeInteger(expected)) fail(`${where}: shape ${JSON.stringify(dims)} is too large`);
  if (end - begin !== expected) {
    fail(`${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} ${JSON.stringify(dims)} needs ${expected}`);
  }
  return { name, dtype: dtype as Dtype, shape: [...dims], begin, end };
}

/** Decode little-endian element bytes of `dtype` to float32. */
function decode(dtype: Dtype, src: Uint8Array): Float32Array {
  if (dtype === 'F32') {
    // Copy through a fresh, aligned buffer: `src` may sit at any byte offset of the file.
    const out = new Float32Array(src.length / 4);
    new Uint8Array(out.buffer).set(src);
    return out;
  }
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const n = src.length / DTYPE_SIZES[dtype];
  const out = new Float32Array(n);
  switch (dtype) {
    case 'BF16': {
      // bfloat16 is the top half of a float32: shift the 16 bits into place.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(8 * i, true));
      break;
    case 'U64':
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigUint64(8 * i, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case 'U32':
      for (let i = 0; i < n; i++) out[i] = view.getUint32(4 * i, true);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      break;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = src[i];
      break;
  }
  return out;
}

/** IEEE 754 binary16 bits to a number: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero and subnormals: mant / 2^10 * 2^-14
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Write float32 tensors as a .safetensors file, atomically. Names are sorted and the header is
 * padded with spaces to a multiple of 8 bytes, as the reference serializer does, so the data
 * buffer starts 8-byte aligned and the same tensors always give the same bytes.
 */
export function writeSafetensors(path: string, tensors: Map<string, TensorInput>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, path));
}

/** The bytes `writeSafetensors` writes; `file` names the target in error messages. */
export function serializeSafetensors(tensors: Map<string, TensorInput>, metadata: Record<string, string> | undefined, file = 'safetensors'): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`internal: ${file}: metadata '${k}' must be a string`);
    }
    header.__metadata__ = metadata;
  }
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error(`internal: ${file}: '__metadata__' cannot be a tensor name`);
    const t = tensors.get(name)!;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`internal: ${file}: tensor '${name}' has an invalid shape [${t.shape}]`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`internal: ${file}: tensor '${name}' has shape [${t.shape}] (${n} values) but ${t.data.length} values`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);

  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    // Typed arrays are in host byte order, little-endian on every platform Node runs on.
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

/**
 * A tensor that a model needs, with the shape the config implies and only finite values (a
 * NaN or Infinity weight would make every embedding NaN; see ./finite.ts). Errors name the
 * file, so a user with a mismatched config.json / weight file sees which one and why.
 */
export function expectTensor(tensors: Map<string, TensorData>, name: string, shape: number[], file: string): TensorData {
  const t = tensors.get(name);
  if (!t) throw new ModelError(`${file}: missing tensor '${name}'`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ModelError(`${file}: tensor '${name}' has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
  }
  const bad = firstNonFinite(t.data);
  if (bad >= 0) {
    // A finite F64 beyond the float32 range decodes to Infinity: say so rather than blame the file.
    const why = t.dtype === 'F64' && !Number.isNaN(t.data[bad]) ? ' (or an F64 value beyond the float32 range)' : '';
    throw new ModelError(`${file}: tensor '${name}' holds ${t.data[bad]}${why} at element ${bad} of ${t.data.length}`);
  }
  return t;
}
