/**
 * Non-finite values (NaN, ±Infinity) in weights and embeddings. A NaN weight makes every
 * embedding NaN, and NaN compares false with everything, so it flows silently into files,
 * indexes and metrics; we stop at the first one instead. One plain loop over the host copy:
 * no tensor op per weight, so it costs a read of the data and nothing on the accelerator.
 */

/** Index of the first NaN or ±Infinity in `values`, or -1 when every value is finite. */
export function firstNonFinite(values: ArrayLike<number>): number {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    // v - v is 0 for every finite v and NaN for NaN and ±Infinity.
    if (v - v !== 0) return i;
  }
  return -1;
}
