/**
 * The text side of the index: embed corpus items with an encoder (in chunks, with a
 * progress bar) and check that a query encoder is the one the index was built with.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import { progressBar, type Progress } from '../util/progress.js';
import type { Encoder } from '../models/types.js';
import { HnswIndex, type IndexParams, type Item, type ModelRef } from './hnsw-index.js';
import { calibrateEf, holdOutCount, type Calibration } from './calibrate.js';
import type { Manifest } from './store.js';

/** What search needs of an encoder (the full `Encoder` satisfies it). */
export type TextEncoder = Pick<Encoder, 'dim' | 'source' | 'encode' | 'weightsHash'>;

/** Texts embedded per chunk: bounds memory and gives the progress bar something to show. */
const CHUNK = 512;

/** How the manifest names a model: an absolute folder path, or the spec as given (hub id, builtin:). */
export async function modelRef(spec: string, encoder: TextEncoder): Promise<ModelRef> {
  return { path: existsSync(spec) ? resolve(spec) : spec, weightsHash: await encoder.weightsHash() };
}

type Bar = Pick<Progress, 'update'>;

/** Embed `items` (L2-normalised) in chunks, reporting each text done to `bar` from `offset` on. */
async function embedChunks(encoder: TextEncoder, items: Item[], batchSize: number, bar: Bar, offset: number, sink: (vectors: Float32Array[], chunk: Item[]) => void): Promise<void> {
  for (let start = 0; start < items.length; start += CHUNK) {
    const chunk = items.slice(start, start + CHUNK);
    const vectors = await encoder.encode(
      chunk.map((it) => it.text),
      { batchSize, normalize: true, progress: false, onBatch: (done) => bar.update(offset + start + done) },
    );
    sink(vectors, chunk);
    bar.update(offset + start + chunk.length);
  }
}

function makeBar(opts: { label?: string; progress?: boolean }, total: number): Progress {
  return opts.progress === false ? { update() {}, stop() {} } : progressBar(opts.label ?? 'embedding', total, 'texts');
}

/** Embed `items` (L2-normalised) and add them to `index`. */
export async function embedInto(index: HnswIndex, encoder: TextEncoder, items: Item[], opts: { batchSize?: number; label?: string; progress?: boolean } = {}): Promise<void> {
  const bar = makeBar(opts, items.length);
  try {
    await embedChunks(encoder, items, opts.batchSize ?? 32, bar, 0, (vectors, chunk) => index.add(vectors, chunk));
  } finally {
    bar.stop();
  }
}

export interface BuildOptions {
  params?: Partial<IndexParams>;
  /** Recall@10 the default ef is calibrated for; ignored when params.ef is given. */
  targetRecall?: number;
  batchSize?: number;
  progress?: boolean;
}

/**
 * Embed `items` into a new index. Unless an ef is given, a strided sample of items is held
 * out of the graph, used to calibrate the default ef (./calibrate.ts), then added.
 */
export async function buildIndex(encoder: TextEncoder, model: ModelRef, items: Item[], opts: BuildOptions = {}): Promise<{ index: HnswIndex; calibration?: Calibration }> {
  const index = HnswIndex.create(encoder.dim, model, opts.params, items.length);
  const calibration = await addCalibrated(index, encoder, items, opts.params?.ef === undefined ? holdOutCount(items.length) : 0, opts);
  return { index, calibration };
}

/**
 * Add items to an existing index. When its ef was calibrated and enough items come in,
 * calibrate again the same way, with a sample of the new items held out: a graph that
 * grew needs a larger ef for the same recall.
 */
export async function addToIndex(index: HnswIndex, encoder: TextEncoder, items: Item[], opts: Omit<BuildOptions, 'params'> = {}): Promise<Calibration | undefined> {
  const previous = index.manifest().calibration;
  const s = previous ? holdOutCount(index.count + items.length) : 0;
  const enough = s > 0 && items.length >= 2 * s;
  return addCalibrated(index, encoder, items, enough ? s : 0, { ...opts, targetRecall: opts.targetRecall ?? previous?.target });
}

async function addCalibrated(index: HnswIndex, encoder: TextEncoder, items: Item[], s: number, opts: BuildOptions): Promise<Calibration | undefined> {
  const stride = s ? Math.floor(items.length / s) : 0;
  const held = s ? items.filter((_, i) => i % stride === 0).slice(0, s) : [];
  const heldSet = new Set(held);
  const graph = items.filter((it) => !heldSet.has(it));
  const batchSize = opts.batchSize ?? 32;
  // One bar over every text embedded, the held-out calibration items included (last).
  const bar = makeBar(opts, items.length);
  const heldVectors: Float32Array[] = [];
  try {
    await embedChunks(encoder, graph, batchSize, bar, 0, (vectors, chunk) => index.add(vectors, chunk));
    await embedChunks(encoder, held, batchSize, bar, graph.length, (vectors) => heldVectors.push(...vectors));
  } finally {
    bar.stop();
  }
  if (!held.length) return undefined;
  const calibration = calibrateEf(index, heldVectors, { target: opts.targetRecall });
  index.add(heldVectors, held);
  return calibration;
}

/**
 * Refuse a query encoder that is not the index's: different embedding size, or different
 * weights (`hash`: the encoder's weightsHash(), sha256 over all weights). Vectors of another model live in
 * another space, so results would be meaningless rather than merely worse.
 */
export function checkEncoderMatches(manifest: Pick<Manifest, 'dim' | 'model'>, encoder: Pick<TextEncoder, 'dim' | 'source'>, hash: string, dir: string): void {
  if (encoder.dim !== manifest.dim) {
    throw new UserError(`model ${encoder.source} makes ${encoder.dim}-dimensional embeddings but the index in ${dir} holds ${manifest.dim}-dimensional ones (built with ${manifest.model.path})`);
  }
  if (hash !== manifest.model.weightsHash) {
    throw new UserError(`model ${encoder.source} is not the one the index in ${dir} was built with (${manifest.model.path}; weights hash ${manifest.model.weightsHash.slice(0, 12)} != ${hash.slice(0, 12)})`);
  }
}
