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
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmdirSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import hnswlib from 'hnswlib-node';
import { DataError, IoError, UserError, asIoError } from '../errors.js';
import { hnswFileProblem, type HnswExpect } from './hnsw-file.js';
import { LIMITS, intInRange } from './limits.js';
import {
  FORMAT,
  FORMAT_VERSION,
  MANIFEST,
  acquireLock,
  checkTarget,
  checkCanWrite,
  commitManifest,
  discardWrite,
  dropOrphans,
  faultPoint,
  fileRef,
  fsyncFile,
  generationNames,
  readManifest,
  sha256,
  verifyFile,
  type FileRef,
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
  /** The model's own embedding size, when the index keeps a shorter prefix of it (index build --dim; ./view.ts). */
  dim?: number;
  /** Texts prepended to items and to queries (./view.ts); absent: none. */
  prompts?: { document: string; query: string };
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
    const indexPath = verifyFile(dir, m.files.index, 'index', layoutCheck(m));
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

  /**
   * Refuse ids that add() would refuse: one already in the index (a removed one too: its label
   * keeps it), or one given twice. Callers check before embedding.
   */
  checkNewIds(ids: string[]): void {
    const seen = new Set<string>();
    for (const id of ids) {
      const label = this.labels.get(id);
      if (label !== undefined) {
        throw new DataError(this.items[label].deleted ? `id '${id}' was removed from the index and cannot be used again (ids must be unique)` : `id '${id}' is already in the index (ids must be unique)`);
      }
      if (seen.has(id)) throw new DataError(`id '${id}' is given twice (ids must be unique)`);
      seen.add(id);
    }
  }

  /** Add items with their embeddings; the capacity doubles as needed (hnswlib resizeIndex). */
  add(vectors: ArrayLike<number>[], items: Item[]): void {
    if (vectors.length !== items.length) throw new RangeError(`${vectors.length} vectors for ${items.length} items`);
    this.checkNewIds(items.map((it) => it.id));
    for (let i = 0; i < items.length; i++) {
      if (vectors[i].length !== this.dim) throw new DataError(`item '${items[i].id}': embedding has dimension ${vectors[i].length}, the index has ${this.dim}`);
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
    if (!Number.isInteger(ef) || ef < LIMITS.ef[0] || ef > LIMITS.ef[1]) throw new RangeError(`ef must be an integer from ${LIMITS.ef[0]} to ${LIMITS.ef[1]}, got ${ef}`);
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
   * Throw the UserError that save(DIR) would, without writing anything: lets a command refuse
   * before it spends minutes embedding (save asks again under the lock).
   */
  checkCanSave(dir: string, opts: { overwrite?: boolean } = {}): void {
    checkCanWrite(dir, this.generation, opts.overwrite);
  }

  /**
   * Write the index to DIR as a new generation and swap the manifest (see ./store.ts).
   * DIR must be empty, or an index folder (`overwrite` to replace a different index).
   * A failed write (an IoError naming the file) leaves DIR as it was: previous generation
   * current, none of the new files left behind.
   */
  save(dir: string, opts: { overwrite?: boolean } = {}): void {
    let made: string | undefined;
    try {
      made = mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw asIoError(e, dir);
    }
    try {
      this.saveLocked(dir, opts.overwrite === true);
    } catch (e) {
      if (made) removeMadeFolders(dir, made);
      throw e;
    }
  }

  private saveLocked(dir: string, overwrite: boolean): void {
    const release = acquireLock(dir);
    try {
      const parent = checkTarget(dir, this.generation, overwrite);
      const generation = Math.max(this.generation, parent?.generation ?? 0) + 1;
      const names = generationNames(generation);
      let writing = join(dir, names.index);
      let manifest: Manifest;
      try {
        const index = this.writeGraph(dir, names.index);
        faultPoint('after-index-write');
        writing = join(dir, names.metadata);
        writeMetadata(writing, this.items);
        faultPoint('before-manifest-swap');
        const files = { index, metadata: fileRef(dir, names.metadata) };
        writing = join(dir, MANIFEST);
        manifest = { ...this.manifest(), generation, files };
        commitManifest(dir, manifest);
      } catch (e) {
        discardWrite(dir, [names.index, names.metadata]);
        throw asIoError(e, writing);
      }
      dropOrphans(dir, manifest, parent && parent.generation === this.generation ? this.loadedFiles : []);
      this.generation = generation;
      this.loadedFiles = [names.index, names.metadata];
      faultPoint('after-manifest-swap');
    } finally {
      release();
    }
  }

  /**
   * Write the graph with hnswlib, then check that the file is whole before it can be committed:
   * hnswlib does not report a short write (./hnsw-file.ts). fsynced; returns its manifest entry.
   */
  private writeGraph(dir: string, name: string): FileRef {
    const path = join(dir, name);
    this.graph.writeIndexSync(path);
    // hnswlib swallows the errno of a failed open or write; doing the same ourselves shows it.
    if (!existsSync(path)) {
      probe(path, (fd) => closeSync(fd), 'wx');
      throw new IoError(`cannot write ${path}: hnswlib did not create the file`, 'EIO', path);
    }
    const bytes = readFileSync(path);
    const bad = hnswFileProblem(bytes, this.graphShape());
    if (bad && !bad.incomplete) throw new Error(`internal: ${path}: the file hnswlib wrote does not have the layout we expect (${bad.problem})`);
    if (bad) {
      probe(path, (fd) => writeSync(fd, new Uint8Array(1), 0, 1, bytes.length), 'r+');
      throw new IoError(`cannot write ${path}: the file hnswlib wrote is incomplete (${bad.problem}; disk full or file-size limit?)`, 'EIO', path);
    }
    fsyncFile(path);
    return { name, bytes: bytes.length, sha256: sha256(bytes) };
  }

  /** What the graph file of this index must hold (./hnsw-file.ts). */
  private graphShape(): HnswExpect {
    return { count: this.items.length, dim: this.dim, M: this.params.M };
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

/** Open `path` (`flags`) and run `op` on it; a file-system error on the way is thrown as an IoError naming `path`. */
function probe(path: string, op: (fd: number) => void, flags: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, flags);
    op(fd);
  } catch (e) {
    throw asIoError(e, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** After a failed save, remove the folders it made for DIR (`made`: the first one), if still empty. */
function removeMadeFolders(dir: string, made: string): void {
  const top = resolve(made);
  for (let at = resolve(dir); ; at = dirname(at)) {
    try {
      rmdirSync(at);
    } catch {
      return; // not empty, or not ours
    }
    if (at === top || dirname(at) === at) return;
  }
}

/** Index parameters within LIMITS (./limits.ts); the message names them as the CLI flags do. */
export function checkParams(p: IndexParams): void {
  intInRange('M', p.M, LIMITS.M);
  intInRange('efConstruction', p.efConstruction, LIMITS.efConstruction);
  intInRange('ef', p.ef, LIMITS.ef);
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
  verifyFile(dir, m.files.index, 'index', layoutCheck(m));
  verifyFile(dir, m.files.metadata, 'metadata');
  return m;
}

/** The HNSW layout check for the index file a manifest names. */
function layoutCheck(m: Manifest): (bytes: Buffer) => string | null {
  return (bytes) => hnswFileProblem(bytes, { count: m.total, dim: m.dim, M: m.params.M })?.problem ?? null;
}
