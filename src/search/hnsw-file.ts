/**
 * The layout of the file hnswlib writes, walked in JS so that a short file is caught before it
 * is committed. hnswlib's writer (HierarchicalNSW::saveIndex, a std::ofstream) does not check
 * its writes: when the disk is full (ENOSPC) or a file-size limit is hit (EFBIG; Node ignores
 * SIGXFSZ), writeIndexSync returns normally and leaves a truncated file.
 *
 * Layout, little-endian, as in node_modules/hnswlib-node/src/hnswlib/hnswalg.h (hnswlib-node
 * 3.0.0, saveIndex / loadIndex; size_t is 8 bytes, tableint and linklistsizeint 4):
 *
 *   offset  type  field
 *    0      u64   offsetLevel0
 *    8      u64   max_elements
 *   16      u64   cur_element_count                       (N)
 *   24      u64   size_data_per_element                   (S)
 *   32      u64   label_offset
 *   40      u64   offsetData
 *   48      i32   maxlevel
 *   52      u32   enterpoint_node
 *   56      u64   maxM                                    (M)
 *   64      u64   maxM0                                   (2 M)
 *   72      u64   M
 *   80      f64   mult
 *   88      u64   ef_construction
 *   96      N * S bytes: level 0, per element its links (u32 count + 2M u32), its float32
 *           vector and its u64 label, so S = (2M * 4 + 4) + dim * 4 + 8
 *   then    per element: u32 linkListSize, then linkListSize bytes (its upper levels, a
 *           multiple of M * 4 + 4; 0 for an element on level 0 only)
 *
 * The file is complete when this walk ends exactly at its last byte.
 */

export const HNSW_HEADER_BYTES = 96;

export interface HnswExpect {
  /** Elements the index holds (hnswlib cur_element_count: live and deleted). */
  count: number;
  dim: number;
  /** Graph degree the index was created with. */
  M: number;
}

/**
 * What is wrong with an hnswlib index file, or null when its layout is whole and it holds what
 * `expect` says. `incomplete` marks a file that ends early (a short write), as opposed to one
 * that is the wrong shape.
 */
export function hnswFileProblem(bytes: Uint8Array, expect: HnswExpect): { problem: string; incomplete: boolean } | null {
  const size = bytes.length;
  const short = (what: string) => ({ problem: `ends after ${size} bytes, inside ${what}`, incomplete: true });
  const wrong = (problem: string) => ({ problem, incomplete: false });
  if (size < HNSW_HEADER_BYTES) return short(`the ${HNSW_HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u64 = (at: number) => {
    const v = view.getBigUint64(at, true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Infinity;
  };
  const count = u64(16);
  const perElement = u64(24);
  const maxM = u64(56);
  const maxM0 = u64(64);
  const M = u64(72);
  if (count !== expect.count) return wrong(`holds ${count} elements, expected ${expect.count}`);
  if (M !== expect.M || maxM !== expect.M || maxM0 !== 2 * expect.M) return wrong(`graph degree M=${M} (maxM ${maxM}, maxM0 ${maxM0}), expected M=${expect.M}`);
  const expectedPerElement = (2 * expect.M * 4 + 4) + expect.dim * 4 + 8;
  if (perElement !== expectedPerElement) return wrong(`${perElement} bytes per element, expected ${expectedPerElement} for dimension ${expect.dim}`);

  let at = HNSW_HEADER_BYTES + count * perElement;
  if (at > size) return short(`level 0 (${at} bytes needed)`);
  const linkBlock = maxM * 4 + 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > size) return short(`the upper-level links of element ${i} of ${count}`);
    const linkListSize = view.getUint32(at, true);
    if (linkListSize % linkBlock !== 0) return wrong(`element ${i}: upper-level links of ${linkListSize} bytes, not a multiple of ${linkBlock}`);
    at += 4 + linkListSize;
    if (at > size) return short(`the upper-level links of element ${i} of ${count}`);
  }
  if (at !== size) return wrong(`${size - at} bytes after the last element`);
  return null;
}
