/**
 * A small protobuf writer for the ONNX messages we emit: ModelProto, GraphProto, NodeProto,
 * TensorProto, ValueInfoProto (with symbolic dims), AttributeProto, OperatorSetIdProto.
 * Writing only (nothing here parses), so there is no schema compiler or runtime dependency.
 *
 * Field numbers follow onnx/onnx.proto (proto2):
 *   https://github.com/onnx/onnx/blob/main/onnx/onnx.proto
 * Wire format: https://protobuf.dev/programming-guides/encoding/
 * Repeated scalars are written unpacked (one tag per element), which every proto2 and proto3
 * parser accepts; tensor payloads go in `raw_data` (little-endian), so large weights are one
 * length-delimited field each and are never copied into a number array.
 */

/** TensorProto.DataType values we use. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** ONNX IR version 8 goes with opset 17 (onnx 1.12), the newest that Debian's python3-onnx checks. */
export const IR_VERSION = 8;
export const OPSET = 17;

const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

/**
 * Bytes built as a list of chunks so that nested messages and large payloads are appended by
 * reference and copied once, by `finish()`.
 */
export class ProtoWriter {
  private parts: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private used = 0;
  /** Total bytes written so far (a nested message's length prefix). */
  length = 0;

  private flush(): void {
    if (this.used) {
      this.parts.push(this.scratch.slice(0, this.used));
      this.used = 0;
    }
  }

  private byte(b: number): void {
    if (this.used === this.scratch.length) this.flush();
    this.scratch[this.used++] = b;
    this.length++;
  }

  /** Base-128 varint; negative int64 values take ten bytes (two's complement), as protobuf does. */
  varint(v: number | bigint): void {
    let x = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
    if (x < 0n) x += 1n << 64n;
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_I32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    for (const x of b) this.byte(x);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.flush();
    if (data.length) this.parts.push(data);
    this.length += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  /** A nested message, written by `fill` into its own writer, then appended with its length. */
  message(field: number, fill: (w: ProtoWriter) => void): void {
    const sub = new ProtoWriter();
    fill(sub);
    sub.flush();
    this.tag(field, WIRE_LEN);
    this.varint(sub.length);
    this.flush();
    this.parts.push(...sub.parts);
    this.length += sub.length;
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

// ---- the ONNX messages, as plain data ----

export interface TensorData {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  /** Little-endian element bytes (Float32Array, BigInt64Array, Int8Array... viewed as bytes). */
  raw: Uint8Array;
}

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorData };

export interface NodeData {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Record<string, AttributeValue>;
  domain?: string;
}

/** A tensor type: element type and dims, each a size or a symbolic name ('batch'). */
export interface ValueInfoData {
  name: string;
  dataType: DataTypeCode;
  dims: (number | string)[];
}

export interface GraphData {
  name: string;
  nodes: NodeData[];
  initializers: TensorData[];
  inputs: ValueInfoData[];
  outputs: ValueInfoData[];
}

export interface ModelData {
  graph: GraphData;
  producerName: string;
  producerVersion: string;
  docString?: string;
  /** Free-form key/value pairs (ModelProto.metadata_props). */
  metadata?: Record<string, string>;
}

/** The bytes of a typed array, without a copy. */
export function rawBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function writeTensor(w: ProtoWriter, t: TensorData): void {
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.dataType); // data_type
  w.string(8, t.name); // name
  w.bytes(9, t.raw); // raw_data
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(1, name);
  switch (a.kind) {
    case 'float':
      w.float(2, a.value);
      w.int(20, AttrType.FLOAT);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, AttrType.INT);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, AttrType.STRING);
      break;
    case 'tensor':
      w.message(5, (t) => writeTensor(t, a.value));
      w.int(20, AttrType.TENSOR);
      break;
    case 'floats':
      for (const f of a.value) w.float(7, f);
      w.int(20, AttrType.FLOATS);
      break;
    case 'ints':
      for (const i of a.value) w.int(8, i);
      w.int(20, AttrType.INTS);
      break;
  }
}

function writeNode(w: ProtoWriter, n: NodeData): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, a] of Object.entries(n.attributes)) w.message(5, (aw) => writeAttribute(aw, name, a));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoData): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      // TypeProto.tensor_type: elem_type = 1, shape = 2
      tensor.int(1, v.dataType);
      tensor.message(2, (shape) => {
        // TensorShapeProto.dim = 1; Dimension: dim_value = 1, dim_param = 2
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function writeGraph(w: ProtoWriter, g: GraphData): void {
  for (const n of g.nodes) w.message(1, (nw) => writeNode(nw, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (tw) => writeTensor(tw, t));
  for (const i of g.inputs) w.message(11, (vw) => writeValueInfo(vw, i));
  for (const o of g.outputs) w.message(12, (vw) => writeValueInfo(vw, o));
}

/** Serialise a ModelProto (IR 8, default-domain opset 17). */
export function encodeModel(m: ModelData): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION); // ir_version
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, (gw) => writeGraph(gw, m.graph));
  w.message(8, (ow) => {
    // OperatorSetIdProto: domain = 1 ('' = ai.onnx), version = 2
    ow.string(1, '');
    ow.int(2, OPSET);
  });
  for (const [key, value] of Object.entries(m.metadata ?? {})) {
    w.message(14, (kv) => {
      kv.string(1, key);
      kv.string(2, value);
    });
  }
  return w.finish();
}
