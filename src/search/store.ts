/**
 * On-disk layout of an index folder, and the crash-safe way it changes.
 *
 *   DIR/manifest.json          names the live generation + checksums + model + params
 *   DIR/index.<gen>.<tag>.hnsw hnswlib graph of that generation
 *   DIR/items.<gen>.<tag>.jsonl one JSON object per label (id, text, fields, deleted)
 *
 * A write never touches the live files: it writes a new generation beside them (fsynced),
 * then swaps the manifest with writeFileAtomic (temp file + rename). A crash before the
 * rename leaves the old manifest naming the old, untouched files; after it, the new ones.
 * Orphans of a crashed write are removed by the next successful one. A write that fails
 * (disk full, file-size limit, read-only folder, or an hnswlib file that came out short, which
 * its writer does not report: ./hnsw-file.ts) removes what it wrote, so the previous generation
 * stays current and nothing of the failed one remains. Readers check the
 * size and sha256 of each file named by the manifest before handing it to hnswlib (whose
 * loader trusts its input and may crash on a damaged file).
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, fsyncSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DataError, UserError, asIoError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

export const MANIFEST = 'manifest.json';
export const FORMAT = 'sbert-train/hnsw-index';
export const FORMAT_VERSION = 1;

export interface FileRef {
  name: string;
  bytes: number;
  sha256: string;
}

export interface IndexParams {
  /** Graph degree (hnswlib M). */
  M: number;
  efConstruction: number;
  /** Default search breadth (hnswlib ef); a query can ask for another. */
  ef: number;
}

export interface Manifest {
  format: typeof FORMAT;
  formatVersion: number;
  generation: number;
  files: { index: FileRef; metadata: FileRef };
  /** dim and prompts: how the index embeds (./view.ts). */
  model: { path: string; weightsHash: string; dim?: number; prompts?: { document: string; query: string } };
  dim: number;
  space: 'cosine';
  /** Embeddings were L2-normalised before indexing. */
  normalized: boolean;
  /** Live (not deleted) items. */
  count: number;
  /** Labels used, deleted ones included. */
  total: number;
  deleted: number;
  capacity: number;
  params: IndexParams;
  library: { name: string; version: string };
  /** How the default ef was chosen, when it was calibrated at build time (./calibrate.ts). */
  calibration?: { target: number; aim: number; k: number; queries: number; ef: number; recall: number; reached: boolean };
  createdAt: string;
  updatedAt: string;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function sha256File(path: string): string {
  return sha256(readFileSync(path));
}

/** Read and validate DIR/manifest.json; a damaged one is a one-line DataError. */
export function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(dir)) throw new UserError(`index folder ${dir} does not exist`);
  if (!existsSync(path)) throw new UserError(`${dir} is not an index folder (no ${MANIFEST}); build one with 'sbert-train index build'`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DataError(`${path}: corrupted manifest (not valid JSON: ${(e as Error).message.split('\n')[0]})`);
  }
  const problems = manifestProblems(raw);
  if (problems.length) throw new DataError(`${path}: corrupted manifest (${problems.slice(0, 3).join('; ')})`);
  return raw as Manifest;
}

function manifestProblems(m: unknown): string[] {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return ['not a JSON object'];
  const o = m as Record<string, unknown>;
  const p: string[] = [];
  if (o.format !== FORMAT) p.push(`format: expected '${FORMAT}'`);
  if (o.formatVersion !== FORMAT_VERSION) p.push(`formatVersion: expected ${FORMAT_VERSION}, got ${JSON.stringify(o.formatVersion)}`);
  const isCount = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  for (const k of ['generation', 'dim', 'count', 'total', 'deleted', 'capacity']) if (!isCount(o[k])) p.push(`${k}: expected a non-negative integer`);
  if (o.space !== 'cosine') p.push("space: expected 'cosine'");
  const files = o.files as Record<string, unknown> | undefined;
  for (const k of ['index', 'metadata']) {
    const f = files?.[k] as Record<string, unknown> | undefined;
    if (!f || typeof f.name !== 'string' || !/^[\w.-]+$/.test(f.name) || !isCount(f.bytes) || typeof f.sha256 !== 'string') {
      p.push(`files.${k}: expected { name, bytes, sha256 }`);
    }
  }
  const model = o.model as Record<string, unknown> | undefined;
  if (!model || typeof model.path !== 'string' || typeof model.weightsHash !== 'string') p.push('model: expected { path, weightsHash }');
  else {
    if (model.dim !== undefined && !(isCount(model.dim) && isCount(o.dim) && (model.dim as number) > (o.dim as number))) p.push('model.dim: expected an integer above dim');
    const pr = model.prompts as Record<string, unknown> | undefined;
    if (pr !== undefined && (typeof pr !== 'object' || pr === null || typeof pr.document !== 'string' || typeof pr.query !== 'string')) p.push('model.prompts: expected { document, query } texts');
  }
  const params = o.params as Record<string, unknown> | undefined;
  for (const k of ['M', 'efConstruction', 'ef']) if (!params || !isCount(params[k])) p.push(`params.${k}: expected an integer`);
  if (isCount(o.count) && isCount(o.deleted) && isCount(o.total) && (o.count as number) + (o.deleted as number) !== o.total) {
    p.push('count + deleted != total');
  }
  return p;
}

/**
 * Check that a file named by the manifest is present and exactly what was written; `check`
 * looks at its bytes too (the HNSW layout, ./hnsw-file.ts) and returns what is wrong, if anything.
 */
export function verifyFile(dir: string, ref: FileRef, what: string, check?: (bytes: Buffer) => string | null): string {
  const path = join(dir, ref.name);
  if (!existsSync(path)) throw new DataError(`${path}: ${what} file named by the manifest is missing`);
  const size = statSync(path).size;
  if (size !== ref.bytes) throw new DataError(`${path}: ${what} file is ${size} bytes, the manifest says ${ref.bytes} (truncated or corrupted)`);
  const bytes = readFileSync(path);
  if (sha256(bytes) !== ref.sha256) throw new DataError(`${path}: ${what} file checksum does not match the manifest (corrupted)`);
  const problem = check?.(bytes);
  if (problem) throw new DataError(`${path}: ${what} file is damaged (${problem})`);
  return path;
}

/** Names for a new generation's files; the random tag keeps a crashed write's leftovers apart. */
export function generationNames(generation: number): { index: string; metadata: string } {
  const tag = randomBytes(4).toString('hex');
  return { index: `index.${generation}.${tag}.hnsw`, metadata: `items.${generation}.${tag}.jsonl` };
}

export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fileRef(dir: string, name: string): FileRef {
  const path = join(dir, name);
  return { name, bytes: statSync(path).size, sha256: sha256File(path) };
}

/**
 * Refuse to write into DIR what would not be committed anyway, so a command can ask before its
 * expensive part (embedding) and the writer asks again under the lock. `generation` is the one
 * the writer was loaded from (0: a new index); `overwrite` replaces whatever index DIR holds.
 * DIR must be missing, empty, or an index folder. Returns the index DIR holds, if any.
 */
export function checkTarget(dir: string, generation: number, overwrite = false): Manifest | null {
  if (!existsSync(dir)) return null;
  if (!statSync(dir).isDirectory()) throw new UserError(`${dir} is a file, not a folder`);
  if (existsSync(join(dir, MANIFEST))) {
    const parent = readManifest(dir);
    if (generation === 0 && !overwrite) throw new UserError(`${dir} already holds an index; pass --force to replace it`);
    if (generation !== 0 && generation !== parent.generation && !overwrite) {
      throw new UserError(`${dir} was changed by another process (generation ${parent.generation}, loaded ${generation}); run again`);
    }
    return parent;
  }
  if (readdirSync(dir).some((f) => f !== '.lock')) throw new UserError(`${dir} is not empty and holds no index; choose a new folder`);
  return null;
}

/**
 * What a command asks before its expensive part (embedding): would a write of an index loaded
 * from `generation` (0: a new one) into DIR be refused (checkTarget), or fail at once because
 * the folder cannot be written (read-only file system, no permission)? The writer asks
 * checkTarget again under the lock.
 */
export function checkCanWrite(dir: string, generation: number, overwrite = false): void {
  checkTarget(dir, generation, overwrite);
  // DIR, or the nearest folder above it that exists (where it would be made).
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    accessSync(at, constants.W_OK);
  } catch (e) {
    throw asIoError(e, at);
  }
}

/**
 * Swap the manifest: the commit point. When it throws, nothing was committed (the rename is the
 * last step that can fail) and the previous manifest is still in place.
 */
export function commitManifest(dir: string, manifest: Manifest): void {
  writeFileAtomic(join(dir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * After a commit, drop the files no manifest names any more (older generations, leftovers of
 * crashed writes) except `keep`. Best effort: the commit stands whatever happens here, and the
 * next successful write tries again.
 */
export function dropOrphans(dir: string, manifest: Manifest, keep: string[] = []): void {
  const live = new Set([manifest.files.index.name, manifest.files.metadata.name, ...keep]);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) {
    if ((isGenerationFile(f) && !live.has(f)) || isManifestTemp(f)) removeQuietly(join(dir, f));
  }
}

/**
 * After a failed write: remove what it wrote (its generation's files, a manifest temp file left
 * by a failed rename), so the folder holds the previous generation and nothing else.
 */
export function discardWrite(dir: string, files: string[]): void {
  for (const f of files) removeQuietly(join(dir, f));
  try {
    for (const f of readdirSync(dir)) if (isManifestTemp(f)) removeQuietly(join(dir, f));
  } catch {
    // the folder itself is gone or unreadable: nothing of ours to remove
  }
}

const isGenerationFile = (f: string) => /^(index\.\d+\..+\.hnsw|items\.\d+\..+\.jsonl)$/.test(f);
const isManifestTemp = (f: string) => /^\.manifest\.json\..*\.tmp$/.test(f);

function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // a file we cannot remove stays an orphan; the next successful write drops it
  }
}

/**
 * A writer's lock (DIR/.lock holding the pid), so two `index add` runs cannot both commit
 * a generation built from the same parent. A lock left by a killed process is taken over.
 */
export function acquireLock(dir: string): () => void {
  const path = join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeLock(path);
      return () => removeQuietly(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw asIoError(e, path);
      let held: string;
      try {
        held = readFileSync(path, 'utf8');
      } catch {
        continue; // released between our two calls: try again
      }
      const pid = Number(held.trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new UserError(`${dir} is being written by process ${pid} (remove ${path} if that is wrong)`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new UserError(`could not lock ${dir}`);
}

/** Create the lock file exclusively; if writing the pid fails (disk full), do not leave it behind empty. */
function writeLock(path: string): void {
  const fd = openSync(path, 'wx');
  try {
    const pid = Buffer.from(String(process.pid));
    for (let off = 0; off < pid.length; ) off += writeSync(fd, pid, off, pid.length - off);
  } catch (e) {
    closeSync(fd);
    removeQuietly(path);
    throw e;
  }
  closeSync(fd);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Test hook for crash-safety tests: when SBERT_FAULT_PAUSE names this point, announce it on
 * stderr and block (synchronously, mid-write) so the test can SIGKILL the process exactly
 * there. A no-op otherwise.
 */
export function faultPoint(name: string): void {
  if (process.env.SBERT_FAULT_PAUSE !== name) return;
  process.stderr.write(`fault-point: ${name}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}
