/**
 * TFRecord framing, the container of TensorBoard event files:
 *
 *   uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 *
 * masked(crc) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32); the CRC is CRC-32C
 * (Castagnoli, reflected polynomial 0x82f63b78), as iSCSI uses (RFC 3720 appendix B.4 gives test
 * vectors). The mask exists so that a CRC stored inside CRC'd data does not weaken the check.
 * Format: https://www.tensorflow.org/tutorials/load_data/tfrecord#tfrecords_format_details
 */

const CASTAGNOLI_REFLECTED = 0x82f63b78;
const MASK_DELTA = 0xa282ead8;

/** One table of 256 partial remainders: one table lookup per byte. */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI_REFLECTED : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C of `data` (unsigned 32-bit). */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The masked CRC that TFRecord stores. */
export function maskedCrc32c(data: Uint8Array): number {
  const c = crc32c(data);
  return ((((c >>> 15) | (c << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

/** One record: header (length + its CRC), the data, the data's CRC. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export interface ParsedRecords {
  /** The data of every whole record with both CRCs right, in file order. */
  records: Uint8Array[];
  /** Byte offset just past the last good record. */
  end: number;
  /** Why reading stopped before the end of the buffer (a record cut short, a CRC mismatch); null when it read all. */
  problem: string | null;
}

/**
 * Read records until the end or the first bad one. A record cut short at the end is what a
 * killed writer or a full disk leaves; readers (TensorBoard's too) stop there, and so do we.
 */
export function parseRecords(buf: Uint8Array): ParsedRecords {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Uint8Array[] = [];
  let off = 0;
  const stop = (problem: string): ParsedRecords => ({ records, end: off, problem });
  while (off < buf.length) {
    if (buf.length - off < 12) return stop(`record at byte ${off} is cut short (header)`);
    if (view.getUint32(off + 8, true) !== maskedCrc32c(buf.subarray(off, off + 8))) return stop(`record at byte ${off}: length CRC mismatch`);
    const len = view.getBigUint64(off, true);
    if (len > BigInt(buf.length - off - 16)) return stop(`record at byte ${off} is cut short (${len} bytes of data announced)`);
    const n = Number(len);
    const data = buf.subarray(off + 12, off + 12 + n);
    if (view.getUint32(off + 12 + n, true) !== maskedCrc32c(data)) return stop(`record at byte ${off}: data CRC mismatch`);
    records.push(data);
    off += 16 + n;
  }
  return { records, end: off, problem: null };
}
