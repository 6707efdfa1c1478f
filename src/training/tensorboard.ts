/**
 * TensorBoard event files, so `tensorboard --logdir runs` shows a run live: one file per process
 * start in `<output.dir>/tensorboard/`, named `events.out.tfevents.<unix seconds>.<host>.<pid>.<n>`
 * as TensorFlow names them, holding TFRecord-framed (./tfrecord.ts) `Event` protobufs:
 *
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
 *             SessionLog session_log = 7; SourceMetadata source_metadata = 10; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; SummaryMetadata metadata = 9; TensorProto tensor = 8; }
 *   SessionLog { SessionStatus status = 1; }   (START = 1)
 *
 * Field numbers from tensorboard/compat/proto/event.proto and summary.proto
 * (https://github.com/tensorflow/tensorboard/tree/master/tensorboard/compat/proto); wire format
 * https://protobuf.dev/programming-guides/encoding/. The first record of a file is
 * `Event{wall_time, file_version: "brain.Event:2"}`. We write scalars as `simple_value`, the form
 * every TensorBoard reads; the reader also takes TF2's rank-0 float tensors (`tf.summary.scalar`),
 * so a file TensorFlow wrote can be checked against ours (test/fixtures/tensorboard).
 *
 * Every record is appended and closed at once (no buffer to lose on a kill); a failed write
 * throws an error that names the file. On --resume the events logged after the checkpoint are
 * dropped from the earlier files (as metrics.jsonl is truncated), so TensorBoard never shows a
 * step twice, and the new file starts with SessionLog START at the first step to come, which
 * TensorBoard's own loader also reads as "purge anything later".
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { withPath, writeFileAtomic } from '../util/fs.js';
import { frameRecord, parseRecords } from './tfrecord.js';

export const FILE_VERSION = 'brain.Event:2';
export const EVENT_FILE = /^events\.out\.tfevents\./;
/** SourceMetadata.writer of our files (TensorFlow's C++ writer puts `tensorflow.core.util.events_writer`). */
export const SOURCE_WRITER = 'sbert-train';
/** SessionLog.SessionStatus.START */
export const SESSION_START = 1;

export interface ScalarValue {
  tag: string;
  value: number;
  /** How the file stored it: `simple_value` (what we write) or a TF2 scalar tensor. */
  kind?: 'simple_value' | 'tensor';
  /** SummaryMetadata.plugin_data.plugin_name, where the value carries metadata. */
  plugin?: string;
}

export interface TfEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  sessionStatus?: number;
  values?: ScalarValue[];
  /** SourceMetadata.writer (field 10), set on a file's first event: who wrote the file. */
  sourceWriter?: string;
}

// ---- protobuf, just the fields above ----

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class Bytes {
  private out: number[] = [];
  varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.out.push(Number(x));
  }
  tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }
  double(field: number, v: number): void {
    this.tag(field, I64);
    const b = new DataView(new ArrayBuffer(8));
    b.setFloat64(0, v, true);
    for (let i = 0; i < 8; i++) this.out.push(b.getUint8(i));
  }
  float(field: number, v: number): void {
    this.tag(field, I32);
    const b = new DataView(new ArrayBuffer(4));
    b.setFloat32(0, v, true);
    for (let i = 0; i < 4; i++) this.out.push(b.getUint8(i));
  }
  int(field: number, v: number): void {
    this.tag(field, VARINT);
    this.varint(BigInt(v));
  }
  bytes(field: number, data: Uint8Array): void {
    this.tag(field, LEN);
    this.varint(BigInt(data.length));
    for (const x of data) this.out.push(x);
  }
  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/**
 * One Event message. Zero wall_time and step are left out and fields go in field-number order,
 * as proto3 serializers write them, so the bytes equal TensorFlow's for the same event.
 */
export function encodeEvent(e: TfEvent): Uint8Array {
  const w = new Bytes();
  if (e.wallTime !== 0) w.double(1, e.wallTime);
  if (e.step !== 0) w.int(2, e.step);
  if (e.fileVersion !== undefined) w.string(3, e.fileVersion);
  if (e.values?.length) {
    const summary = new Bytes();
    for (const v of e.values) {
      const value = new Bytes();
      value.string(1, v.tag);
      value.float(2, v.value); // in a oneof: written even when 0
      summary.bytes(1, value.finish());
    }
    w.bytes(5, summary.finish());
  }
  if (e.sessionStatus !== undefined) {
    const log = new Bytes();
    if (e.sessionStatus !== 0) log.int(1, e.sessionStatus);
    w.bytes(7, log.finish());
  }
  if (e.sourceWriter !== undefined) {
    const src = new Bytes();
    src.string(1, e.sourceWriter);
    w.bytes(10, src.finish());
  }
  return w.finish();
}

type Field = { field: number; wire: number; varint?: bigint; bytes?: Uint8Array };

function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let off = 0;
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      if (off >= buf.length) throw new Error('protobuf: varint runs past the end');
      const b = buf[off++];
      x |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return x;
      shift += 7n;
    }
  };
  const take = (n: number): Uint8Array => {
    if (off + n > buf.length) throw new Error('protobuf: field runs past the end');
    const s = buf.subarray(off, off + n);
    off += n;
    return s;
  };
  while (off < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === VARINT) out.push({ field, wire, varint: varint() });
    else if (wire === I64) out.push({ field, wire, bytes: take(8) });
    else if (wire === LEN) out.push({ field, wire, bytes: take(Number(varint())) });
    else if (wire === I32) out.push({ field, wire, bytes: take(4) });
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
  return out;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A TF2 scalar: TensorProto { dtype = 1 (DT_FLOAT = 1); tensor_content = 4; float_val = 5 (packed) }. */
function tensorScalar(buf: Uint8Array): number | null {
  let dtype = 0;
  let value: number | null = null;
  for (const f of fields(buf)) {
    if (f.field === 1 && f.wire === VARINT) dtype = Number(f.varint);
    else if ((f.field === 4 || f.field === 5) && f.wire === LEN && f.bytes!.length >= 4) value = view(f.bytes!).getFloat32(0, true);
    else if (f.field === 5 && f.wire === I32) value = view(f.bytes!).getFloat32(0, true);
  }
  return dtype === 1 ? value : null;
}

function decodeValue(buf: Uint8Array): ScalarValue | null {
  let tag = '';
  let value: number | null = null;
  let kind: ScalarValue['kind'];
  let plugin: string | undefined;
  for (const f of fields(buf)) {
    if (f.field === 1 && f.wire === LEN) tag = text(f.bytes!);
    else if (f.field === 2 && f.wire === I32) {
      value = view(f.bytes!).getFloat32(0, true);
      kind = 'simple_value';
    } else if (f.field === 8 && f.wire === LEN) {
      value = tensorScalar(f.bytes!);
      kind = 'tensor';
    } else if (f.field === 9 && f.wire === LEN) {
      const pluginData = fields(f.bytes!).find((m) => m.field === 1 && m.wire === LEN);
      const name = pluginData && fields(pluginData.bytes!).find((p) => p.field === 1 && p.wire === LEN);
      if (name) plugin = text(name.bytes!);
    }
  }
  return value === null ? null : { tag, value, kind, ...(plugin !== undefined ? { plugin } : {}) };
}

/** Decode one Event (scalars only; images, histograms and graphs are skipped). */
export function decodeEvent(buf: Uint8Array): TfEvent {
  const e: TfEvent = { wallTime: 0, step: 0 };
  for (const f of fields(buf)) {
    if (f.field === 1 && f.wire === I64) e.wallTime = view(f.bytes!).getFloat64(0, true);
    else if (f.field === 2 && f.wire === VARINT) e.step = Number(BigInt.asIntN(64, f.varint!));
    else if (f.field === 3 && f.wire === LEN) e.fileVersion = text(f.bytes!);
    else if (f.field === 5 && f.wire === LEN) {
      const values = fields(f.bytes!)
        .filter((v) => v.field === 1 && v.wire === LEN)
        .map((v) => decodeValue(v.bytes!))
        .filter((v): v is ScalarValue => v !== null);
      e.values = [...(e.values ?? []), ...values];
    } else if (f.field === 7 && f.wire === LEN) {
      const status = fields(f.bytes!).find((s) => s.field === 1 && s.wire === VARINT);
      e.sessionStatus = status ? Number(status.varint) : 0;
    } else if (f.field === 10 && f.wire === LEN) {
      const writer = fields(f.bytes!).find((s) => s.field === 1 && s.wire === LEN);
      e.sourceWriter = writer ? text(writer.bytes!) : '';
    }
  }
  return e;
}

/** Every event of a file, and why reading stopped early (a torn last record, a bad CRC), if it did. */
export function readEventFile(path: string): { events: TfEvent[]; problem: string | null } {
  const { records, problem } = parseRecords(readFileSync(path));
  return { events: records.map(decodeEvent), problem: problem && `${path}: ${problem}` };
}

/** The event files of a folder in the order TensorBoard reads them (by name). */
export function eventFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => EVENT_FILE.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** Scalars of a metrics.jsonl row as TensorBoard tags: `train/loss`, `train/lr`, `eval/spearman_cosine`... */
export function scalarsOfRow(row: Record<string, unknown>): ScalarValue[] {
  const prefix = typeof row.type === 'string' ? `${row.type}/` : '';
  return Object.entries(row)
    .filter(([k, v]) => typeof v === 'number' && k !== 'step' && k !== 'epoch')
    .map(([k, v]) => ({ tag: `${prefix}${k}`, value: v as number }));
}

export class TensorBoardWriter {
  private constructor(readonly file: string) {}

  /**
   * Start a new event file in `dir`. `resumeStep` null: a run starting from step 0, so event
   * files an earlier attempt left (one that stopped before its first checkpoint) go. A number:
   * a resume from that step; later events are cut from the earlier files.
   */
  static open(dir: string, resumeStep: number | null, now = Date.now() / 1000): TensorBoardWriter {
    mkdirSync(dir, { recursive: true });
    for (const f of eventFiles(dir)) {
      if (resumeStep === null) rmSync(f, { force: true });
      else dropAfter(f, resumeStep);
    }
    const stem = `events.out.tfevents.${Math.floor(now)}.${hostname().replace(/[^\w.-]/g, '_') || 'host'}.${process.pid}`;
    let n = 0;
    while (existsSync(join(dir, `${stem}.${n}`))) n++;
    const w = new TensorBoardWriter(join(dir, `${stem}.${n}`));
    w.write({ wallTime: now, step: 0, fileVersion: FILE_VERSION, sourceWriter: SOURCE_WRITER });
    if (resumeStep !== null) w.write({ wallTime: now, step: resumeStep + 1, sessionStatus: SESSION_START });
    return w;
  }

  write(e: TfEvent): void {
    try {
      appendFileSync(this.file, frameRecord(encodeEvent(e)));
    } catch (err) {
      throw withPath(err, this.file);
    }
  }

  /** One event holding every scalar of a metrics.jsonl row, at its step. */
  logRow(row: Record<string, unknown> & { step: number }, wallTime = Date.now() / 1000): void {
    const values = scalarsOfRow(row);
    if (values.length) this.write({ wallTime, step: row.step, values });
  }
}

/** Rewrite `file` without the events past `step` (and without a torn or corrupt tail). */
function dropAfter(file: string, step: number): void {
  const { records, problem } = parseRecords(readFileSync(file));
  const keep = records.filter((r) => decodeEvent(r).step <= step);
  if (keep.length === records.length && problem === null) return;
  const framed = keep.map(frameRecord);
  const out = new Uint8Array(framed.reduce((n, r) => n + r.length, 0));
  let off = 0;
  for (const r of framed) {
    out.set(r, off);
    off += r.length;
  }
  writeFileAtomic(file, out);
}
