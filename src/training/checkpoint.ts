/**
 * Crash-safe checkpoints. One checkpoint is a folder `checkpoints/step-00000123/` holding
 *
 *   weights.bin     every model weight (float32, little-endian, in `state.json`'s index order)
 *   optimizer.bin   Adam's m then v for each trainable weight (same index)
 *   best.bin        the best-so-far weights (when early stopping / keep_best has one)
 *   state.json      step, epoch, position in the epoch's batch order, early-stopping state...
 *   recipe.yaml     the resolved recipe the run was started with
 *   manifest.json   sha256 and size of every file above: written last, so its presence says
 *                   "complete"
 *
 * It is written into a hidden temp folder (every file fsynced), then renamed into place and
 * the parent folder fsynced: a crash at any moment leaves either no `step-*` folder or a
 * complete one. Loading verifies every checksum and falls back to an older checkpoint when
 * the newest does not verify. Old checkpoints are renamed away before deletion, so a
 * half-deleted one never looks like a checkpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, withPath } from '../util/fs.js';

export interface TensorIndexEntry {
  name: string;
  shape: number[];
  /** Offset in float32 elements. */
  offset: number;
  size: number;
}

export interface CheckpointFiles {
  weights: Float32Array;
  optimizer: Float32Array | null;
  best: Float32Array | null;
  /** JSON-serialisable training state (includes the tensor indexes). */
  state: Record<string, unknown>;
  recipeYaml: string;
}

const NAME = /^step-(\d{8})$/;

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

function writeSynced(path: string, data: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (e) {
    throw withPath(e, path); // writeSync / fsyncSync errors carry no path
  } finally {
    closeSync(fd);
  }
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface SaveHooks {
  /** Test hook: called after the data files are written, before the manifest (to simulate a crash there). */
  beforeManifest?: () => void;
}

/**
 * Write checkpoint `step` under `root` atomically, then keep only the newest `keep`.
 * Returns the checkpoint folder. A save that fails (a full disk...) removes its temp folder
 * before the error goes on, so it leaves nothing behind.
 */
export function saveCheckpoint(root: string, step: number, files: CheckpointFiles, keep: number, hooks: SaveHooks = {}): string {
  mkdirSync(root, { recursive: true });
  const final = join(root, checkpointName(step));
  const tmp = join(root, `.tmp-${checkpointName(step)}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    const manifest: Record<string, { sha256: string; bytes: number }> = {};
    const put = (name: string, data: Uint8Array) => {
      writeSynced(join(tmp, name), data);
      manifest[name] = { sha256: sha256(data), bytes: data.length };
    };
    put('weights.bin', bytesOf(files.weights));
    if (files.optimizer) put('optimizer.bin', bytesOf(files.optimizer));
    if (files.best) put('best.bin', bytesOf(files.best));
    put('state.json', Buffer.from(JSON.stringify(files.state, null, 1)));
    put('recipe.yaml', Buffer.from(files.recipeYaml));
    hooks.beforeManifest?.();
    writeSynced(join(tmp, 'manifest.json'), Buffer.from(JSON.stringify({ format: 'sbert-train-checkpoint/1', step, files: manifest }, null, 1)));
    fsyncDir(tmp);
    if (existsSync(final)) discard(root, final);
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(root);
  prune(root, keep);
  return final;
}

/** Move a folder out of the `step-*` namespace, then delete it. */
function discard(root: string, dir: string): void {
  const trash = join(root, `.trash-${randomBytes(4).toString('hex')}`);
  renameSync(dir, trash);
  fsyncDir(root);
  rmSync(trash, { recursive: true, force: true });
}

function listSteps(root: string): { step: number; dir: string }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => ({ m: NAME.exec(n), n }))
    .filter((x) => x.m)
    .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.n) }))
    .sort((a, b) => b.step - a.step);
}

/** Keep the newest `keep` checkpoints; also clear temp / trash folders a crash left behind. */
export function prune(root: string, keep: number): void {
  for (const { dir } of listSteps(root).slice(keep)) discard(root, dir);
  cleanStale(root);
}

export function cleanStale(root: string): void {
  if (!existsSync(root)) return;
  for (const n of readdirSync(root)) if (n.startsWith('.tmp-') || n.startsWith('.trash-')) rmSync(join(root, n), { recursive: true, force: true });
}

/** Check a checkpoint folder against its manifest; returns the reason it is bad, or null. */
export function verifyCheckpoint(dir: string): string | null {
  const mf = join(dir, 'manifest.json');
  if (!existsSync(mf)) return 'no manifest (incomplete)';
  let manifest: { files: Record<string, { sha256: string; bytes: number }> };
  try {
    manifest = JSON.parse(readFileSync(mf, 'utf8'));
  } catch {
    return 'unreadable manifest';
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const p = join(dir, name);
    if (!existsSync(p)) return `${name} missing`;
    const data = readFileSync(p);
    if (data.length !== want.bytes || sha256(data) !== want.sha256) return `${name} checksum mismatch`;
  }
  return null;
}

/** Every checkpoint folder, newest first, with whether it verifies. */
export function listCheckpoints(root: string): { step: number; dir: string; problem: string | null }[] {
  return listSteps(root).map((c) => ({ ...c, problem: verifyCheckpoint(c.dir) }));
}

/** The newest checkpoint that verifies, or null. */
export function latestCheckpoint(root: string): { step: number; dir: string } | null {
  for (const c of listSteps(root)) if (verifyCheckpoint(c.dir) === null) return c;
  return null;
}

function readFloats(path: string): Float32Array {
  const buf = readFileSync(path);
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export function loadCheckpoint(dir: string): CheckpointFiles {
  const problem = verifyCheckpoint(dir);
  if (problem) throw new Error(`checkpoint ${dir} is not valid: ${problem}`);
  const has = (n: string) => existsSync(join(dir, n));
  return {
    weights: readFloats(join(dir, 'weights.bin')),
    optimizer: has('optimizer.bin') ? readFloats(join(dir, 'optimizer.bin')) : null,
    best: has('best.bin') ? readFloats(join(dir, 'best.bin')) : null,
    state: JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')),
    recipeYaml: readFileSync(join(dir, 'recipe.yaml'), 'utf8'),
  };
}
