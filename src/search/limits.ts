/**
 * The ranges index and query parameters must fall in, each with why. Values outside them are
 * mistakes (a typo such as --ef 1e12, a 0 that would divide by zero), refused with one line
 * before any work starts, not stored in a manifest or handed to hnswlib.
 */
import { UserError } from '../errors.js';

export const LIMITS = {
  /** hnswlib caps M at 10000; past ~100 memory grows with no recall gain (its README suggests 12-48). */
  M: [2, 200],
  /** Build time grows linearly with it; the hnswlib README's 200 is already high quality. */
  efConstruction: [1, 10_000],
  /** Search time grows linearly with it; 100000 candidates is an exhaustive scan of most corpora. */
  ef: [1, 100_000],
  /** Results per query: more than anyone reads, and hnswlib searches with ef >= k. */
  k: [1, 10_000],
  /** Texts per forward pass: 0 divides by zero in the backend; no cap (memory is the user's call, as in encode). */
  batchSize: [1, Infinity],
} as const satisfies Record<string, readonly [number, number]>;

/** `value` as an integer within `range`, or a one-line UserError naming `flag` and the range. */
export function intInRange(flag: string, value: unknown, range: readonly [number, number]): number {
  const [lo, hi] = range;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi) {
    const what = hi === Infinity ? (lo === 1 ? 'a positive integer' : `an integer >= ${lo}`) : `an integer from ${lo} to ${hi}`;
    throw new UserError(`${flag} must be ${what}, got ${String(value)}`);
  }
  return value;
}
