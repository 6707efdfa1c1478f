/**
 * Hold out part of a training set as a dev set, reproducibly: the same (examples, fraction,
 * seed) always gives the same split, and both parts keep the file's order.
 */
import seedrandom from 'seedrandom';
import { DataError } from '../errors.js';
import { shuffleInPlace } from './batching.js';

export function validationSplit<T>(examples: readonly T[], fraction: number, seed: number): { train: T[]; dev: T[] } {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`validation split: fraction must be in (0, 1), got ${fraction}`);
  const nDev = Math.round(examples.length * fraction);
  if (nDev < 1 || nDev >= examples.length) {
    throw new DataError(`validation split: ${fraction} of ${examples.length} examples leaves ${nDev === 0 ? 'no dev' : 'no training'} examples`);
  }
  const order = examples.map((_, i) => i);
  shuffleInPlace(order, seedrandom(`validation-split:${seed}`));
  const isDev = new Uint8Array(examples.length);
  for (const i of order.slice(0, nDev)) isDev[i] = 1;
  return { train: examples.filter((_, i) => !isDev[i]), dev: examples.filter((_, i) => isDev[i]) };
}
