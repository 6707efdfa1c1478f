/**
 * An approximate nearest-neighbour index over sentence embeddings: hnswlib's HNSW graph
 * (Malkov & Yashunin 2018, https://arxiv.org/abs/1603.09320; bindings
 * https://github.com/yoshoku/hnswlib-node) in cosine space, plus the metadata of every item.
 * It takes vectors, not texts: embedding is the caller's job (see ./build.ts), so this layer
 * is tested with plain random vectors.
 *
 * Labels are positions in `items` (0, 1, 2...); removal marks an item deleted (hnswlib
 * markDelete), it keeps its label, and searches skip it.
 */
import { createRequire } from 'node:module';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import { DataError, UserError } from '../errors.js';
import {
  FORMAT,
  FORMAT_VERSION,
  acquireLock,
  commitManifest,
  faultPoint,
  fileRef,
  fsyncFile,
  generationNames,
  readManifest,
  verifyFile,
  type IndexParams,
  type Manifest,
} from './store.js';

import type { Calibration } from './calibrate.js';

export type { IndexParams, Manifest } from './store.js';

/**
 * Defaults (see benchmarks/hnsw-recall.ts and RESULTS.md, "Vector search").
 *   M = 32: more links per node than hnswlib's 16; high-dimensional embeddings need them for
 *     high recall at moderate ef (the hnswlib README suggests 12-48, higher for higher dims).
 *   efConstruction = 200: the hnswlib README's suggested build quality.
 *   ef = 100: used as is for small corpora; `index build` replaces it by the ef calibrated on
 *     held-out items for recall@10 >= 0.98 (./calibrate.ts).
 */
export const DEFAULT_PARAMS: IndexParams = { M: 32, efConstruction: 200, ef: 100 };

/** Fixed hnswlib seed so a build from the same vectors gives the same graph. */
const RANDOM_SEED = 100;
const MIN_CAPACITY = 1024;

export interface Item {
  id: string;
  text: string;
  /** Other columns of the corpus row. */
  fields?: Record<string, unknown>;
}

interface StoredItem extends Item {
  deleted?: boolean;
}

export interface Hit {
  id: string;
  text: string;
  fields?: Record<string, unknown>;
  /** Cosine similarity of query and item. */
  score: number;
  label: number;
}

export interface ModelRef {
  path: string;
  weightsHash: string;
}

const require = createRequire(import.meta.url);
export const HNSWLIB_VERSION: string = (require('hnswlib-node/package.json') as { version: string }).version;

export class HnswIndex {
  private readonly items: StoredItem[] = [];
  private readonly labels = new Map<string, number>();
  private deletedCount = 0;
  private generation = 0;
  private createdAt = new Date().toISOString();
  /** Files of the generation this index was loaded from, kept one commit for open readers. */
  private loadedFiles: string[] = [];
  private calibration?: Calibration;

  private constructor(
    private readonly graph: hnswlib.HierarchicalNSW,
    readonly dim: number,
    readonly params: IndexParams,
    readonly model: ModelRef,
  ) {}

  static create(dim: number, model: ModelRef, params: Partial<IndexParams> = {}, capacity = MIN_CAPACITY): HnswIndex {
    const p = { ...DEFAULT_PARAMS, ...params };
    checkParams(p);
    if (!Number.isInteger(dim) || dim < 1) throw new UserError(`index dimension must be a positive integer, got ${dim}`);
    const graph = new hnswlib.HierarchicalNSW('cosine', dim);
    graph.initIndex({ maxElements: Math.max(capacity, MIN_CAPACITY), m: p.M, efConstruction: p.efConstruction, randomSeed: RANDOM_SEED });
    graph.setEf(p.ef);
    return new HnswIndex(graph, dim, p, model);
  }

  /** Load DIR, checking every file against the manifest first. Damage is a one-line DataError. */
  static load(dir: string): HnswIndex {
    try {
      return HnswIndex.loadOnce(dir);
    } catch (e) {
      // A writer may have committed (and dropped the files we were about to read) between our
      // manifest read and the file reads: if the generation moved on, read the new one.
      const before = (e as { generation?: number }).generation;
      if (e instanceof DataError && before !== undefined && readManifest(dir).generation !== before) return HnswIndex.loadOnce(dir);
      throw e;
    }
  }

  private static loadOnce(dir: string): HnswIndex {
    const m = readManifest(dir);
    try {
      return HnswIndex.fromManifest(dir, m);
    } catch (e) {
      if (e instanceof DataError) Object.assign(e, { generation: m.generation });
      throw e;
    }
  }

  private static fromManifest(dir: string, m: Manifest): HnswIndex {
    const indexPath = verifyFile(dir, m.files.index, 'index');
    const metaPath = verifyFile(dir, m.files.metadata, 'metadata');
    const items = parseItems(metaPath, m.total);
    const graph = new hnswlib.HierarchicalNSW('cosine', m.dim);
    try {
      graph.readIndexSync(indexPath);
    } catch (e) {
      throw new DataError(`${indexPath}: cannot read the HNSW index (${(e as Error).message})`);
    }
    if (graph.getCurrentCount() !== m.total) {
      throw new DataError(`${indexPath}: holds ${graph.getCurrentCount()} items, the manifest says ${m.total}`);
    }
    graph.setEf(m.params.ef);
    const index = new HnswIndex(graph, m.dim, { ...m.params }, { ...m.model });
    for (const it of items) index.pushItem(it);
    if (index.deletedCount !== m.deleted) throw new DataError(`${metaPath}: ${index.deletedCount} items marked deleted, the manifest says ${m.deleted}`);
    index.generation = m.generation;
    index.calibration = m.calibration;
    index.createdAt = m.createdAt;
    index.loadedFiles = [m.files.index.name, m.files.metadata.name];
    return index;
  }

  get count(): number {
    return this.items.length - this.deletedCount;
  }

  /** The generation on disk this index was loaded from or last saved as (0: never saved). */
  get generationNumber(): number {
    return this.generation;
  }

  get total(): number {
    return this.items.length;
  }

  get capacity(): number {
    return this.graph.getMaxElements();
  }

  has(id: string): boolean {
    const l = this.labels.get(id);
    return l !== undefined && !this.items[l].deleted;
  }

  /** Add items with their embeddings; the capacity doubles as needed (hnswlib resizeIndex). */
  add(vectors: ArrayLike<number>[], items: Item[]): void {
    if (vectors.length !== items.length) throw new RangeError(`${vectors.length} vectors for ${items.length} items`);
    const seen = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const id = items[i].id;
      if (this.labels.has(id) || seen.has(id)) throw new DataError(`id '${id}' is already in the index (ids must be unique; remove it first)`);
      seen.add(id);
      if (vectors[i].length !== this.dim) throw new DataError(`item '${id}': embedding has dimension ${vectors[i].length}, the index has ${this.dim}`);
    }
    const needed = this.items.length + items.length;
    if (needed > this.capacity) this.graph.resizeIndex(Math.max(needed, this.capacity * 2));
    for (let i = 0; i < items.length; i++) {
      const label = this.items.length;
      this.graph.addPoint(Array.from(vectors[i]), label);
      this.pushItem({ ...items[i] });
    }
  }

  /** Mark items deleted. Returns the ids that were not (or no longer) in the index. */
  remove(ids: string[]): { removed: string[]; missing: string[] } {
    const removed: string[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      const l = this.labels.get(id);
      if (l === undefined || this.items[l].deleted) {
        missing.push(id);
        continue;
      }
      this.graph.markDelete(l);
      this.items[l].deleted = true;
      this.deletedCount++;
      removed.push(id);
    }
    return { removed, missing };
  }

  /** The k nearest live items by cosine similarity, best first. */
  search(query: ArrayLike<number>, k: number, ef?: number): Hit[] {
    if (query.length !== this.dim) throw new UserError(`query embedding has dimension ${query.length}, the index has ${this.dim}`);
    const n = Math.min(k, this.count);
    if (n <= 0) return [];
    // hnswlib needs ef >= k to return k results.
    this.graph.setEf(Math.max(ef ?? this.params.ef, n));
    const r = this.graph.searchKnn(Array.from(query), n);
    return r.neighbors.map((label, i) => {
      const it = this.items[label];
      return { id: it.id, text: it.text, ...(it.fields ? { fields: it.fields } : {}), score: 1 - r.distances[i], label };
    });
  }

  /** The stored (normalised) vector of a label; hnswlib keeps it unit-length in cosine space. */
  vector(label: number): Float32Array {
    return Float32Array.from(this.graph.getPoint(label));
  }

  /** Labels of the items not deleted, ascending. */
  liveLabels(): number[] {
    const out: number[] = [];
    for (let l = 0; l < this.items.length; l++) if (!this.items[l].deleted) out.push(l);
    return out;
  }

  /** Change the default search breadth (recorded in the manifest with how it was chosen). */
  setDefaultEf(ef: number, calibration?: Calibration): void {
    if (!Number.isInteger(ef) || ef < 1) throw new RangeError(`ef must be a positive integer, got ${ef}`);
    this.params.ef = ef;
    this.calibration = calibration ? { ...calibration } : undefined;
  }

  item(label: number): Item & { deleted: boolean } {
    const it = this.items[label];
    return { ...it, deleted: it.deleted === true };
  }

  manifest(): Omit<Manifest, 'files'> {
    return {
      format: FORMAT,
      formatVersion: FORMAT_VERSION,
      generation: this.generation,
      model: { ...this.model },
      dim: this.dim,
      space: 'cosine',
      normalized: true,
      count: this.count,
      total: this.total,
      deleted: this.deletedCount,
      capacity: this.capacity,
      params: { ...this.params },
      library: { name: 'hnswlib-node', version: HNSWLIB_VERSION },
      ...(this.calibration ? { calibration: { ...this.calibration } } : {}),
      createdAt: this.createdAt,
      updatedAt: new Date().toISOString(),
    };
  }

  /**
   * Write the index to DIR as a new generation and swap the manifest (see ./store.ts).
   * DIR must be empty, or an index folder (`overwrite` to replace a different index).
   */
  save(dir: string, opts: { overwrite?: boolean } = {}): void {
    mkdirSync(dir, { recursive: true });
    const release = acquireLock(dir);
    try {
      let parent: Manifest | null = null;
      if (existsSync(join(dir, 'manifest.json'))) {
        parent = readManifest(dir);
        if (this.generation === 0 && !opts.overwrite) {
          throw new UserError(`${dir} already holds an index; pass --force to replace it`);
        }
        if (this.generation !== 0 && this.generation !== parent.generation && !opts.overwrite) {
          throw new UserError(`${dir} was changed by another process (generation ${parent.generation}, loaded ${this.generation}); run again`);
        }
      } else if (readdirSync(dir).some((f) => f !== '.lock')) {
        throw new UserError(`${dir} is not empty and holds no index; choose a new folder`);
      }
      const generation = Math.max(this.generation, parent?.generation ?? 0) + 1;
      const names = generationNames(generation);
      this.graph.writeIndexSync(join(dir, names.index));
      fsyncFile(join(dir, names.index));
      faultPoint('after-index-write');
      writeMetadata(join(dir, names.metadata), this.items);
      faultPoint('before-manifest-swap');
      const files = { index: fileRef(dir, names.index), metadata: fileRef(dir, names.metadata) };
      const manifest: Manifest = { ...this.manifest(), generation, files };
      commitManifest(dir, manifest, parent && parent.generation === this.generation ? this.loadedFiles : []);
      this.generation = generation;
      this.loadedFiles = [names.index, names.metadata];
      faultPoint('after-manifest-swap');
    } finally {
      release();
    }
  }

  private pushItem(it: StoredItem): void {
    const label = this.items.length;
    this.items.push(it);
    this.labels.set(it.id, label);
    if (it.deleted) this.deletedCount++;
  }
}

/** One JSON object per label; fsynced. The fault point sits between two halves of the file. */
function writeMetadata(path: string, items: StoredItem[]): void {
  const buf = Buffer.from(items.map((it) => JSON.stringify(it)).join('\n') + (items.length ? '\n' : ''), 'utf8');
  const fd = openSync(path, 'w');
  try {
    const half = buf.length >> 1;
    writeAll(fd, buf.subarray(0, half));
    faultPoint('during-metadata-write');
    writeAll(fd, buf.subarray(half));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function checkParams(p: IndexParams): void {
  const bad = (['M', 'efConstruction', 'ef'] as const).filter((k) => !Number.isInteger(p[k]) || p[k] < 1);
  if (bad.length) throw new UserError(`index parameters must be positive integers: ${bad.map((k) => `${k}=${p[k]}`).join(', ')}`);
  if (p.M < 2 || p.M > 200) throw new UserError(`M must be between 2 and 200, got ${p.M}`);
}

function parseItems(path: string, total: number): StoredItem[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== total) throw new DataError(`${path}: ${lines.length} items, the manifest says ${total}`);
  return lines.map((line, i) => {
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new DataError(`${path}:${i + 1}: not valid JSON`);
    }
    const it = o as StoredItem;
    if (typeof it !== 'object' || it === null || typeof it.id !== 'string' || typeof it.text !== 'string') {
      throw new DataError(`${path}:${i + 1}: expected an object with string id and text`);
    }
    return it;
  });
}

/** Read just the manifest, checking the files it names (for `index info`). */
export function inspectIndex(dir: string): Manifest {
  const m = readManifest(dir);
  verifyFile(dir, m.files.index, 'index');
  verifyFile(dir, m.files.metadata, 'metadata');
  return m;
}
