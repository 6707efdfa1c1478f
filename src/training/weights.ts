/**
 * Weights as flat float32 snapshots: read every variable out (for checkpoints and for keeping
 * the best model) and write them back bit for bit. Reading is async (see readToHost).
 */
import * as tf from '@tensorflow/tfjs-core';
import { readToHost } from '../backend/index.js';
import type { TensorIndexEntry } from './checkpoint.js';

export interface Snapshot {
  index: TensorIndexEntry[];
  data: Float32Array;
}

/** Copy every variable (sorted by name, so the layout never depends on map order). */
export async function snapshot(vars: Map<string, tf.Variable>): Promise<Snapshot> {
  const names = [...vars.keys()].sort();
  const index: TensorIndexEntry[] = [];
  let offset = 0;
  for (const name of names) {
    const v = vars.get(name)!;
    if (v.dtype !== 'float32') throw new Error(`weight '${name}' is ${v.dtype}; checkpoints hold float32 only`);
    index.push({ name, shape: [...v.shape], offset, size: v.size });
    offset += v.size;
  }
  const data = new Float32Array(offset);
  const values = await readToHost(vars);
  for (const e of index) data.set(values.get(e.name)!, e.offset);
  return { index, data };
}

/** Assign a snapshot back into the variables; every variable must be present with its shape. */
export function restore(vars: Map<string, tf.Variable>, snap: Snapshot): void {
  const byName = new Map(snap.index.map((e) => [e.name, e]));
  for (const [name, v] of vars) {
    const e = byName.get(name);
    if (!e) throw new Error(`checkpoint has no weight '${name}'`);
    if (e.shape.join(',') !== v.shape.join(',')) throw new Error(`checkpoint weight '${name}' has shape [${e.shape}], the model [${v.shape}]`);
    tf.tidy(() => v.assign(tf.tensor(snap.data.subarray(e.offset, e.offset + e.size), v.shape, 'float32')));
  }
}
