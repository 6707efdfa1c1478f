import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * True when both paths name one existing file (the same path, through a symlink, `./`, or a
 * hard link): an output that would overwrite its own input.
 */
export function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false; // one of them does not exist (yet)
  }
}

/**
 * Write a file atomically: write to a temp file in the same folder, fsync, rename over the
 * target, fsync the folder. A crash leaves either the old file or the new one, never half.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw withPath(e, path);
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw withPath(e, path);
  }
  fsyncDir(dirname(path));
}

/**
 * Name the file on a file-system error that lacks it: Node's `writeSync(fd, ...)` and
 * `fsyncSync(fd)` report EFBIG / ENOSPC / EIO without a path, and the one-line message the
 * CLI prints must say which file could not be written.
 */
export function withPath(e: unknown, path: string): unknown {
  const x = e as NodeJS.ErrnoException;
  if (x && typeof x === 'object' && typeof x.code === 'string' && x.path === undefined) x.path = path;
  return e;
}

/** `writeFileSync` whose errors always name the file (a failed write of a Buffer reports none). */
export function writeFileNamed(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw withPath(e, path);
  }
}

/** `appendFileSync` whose errors always name the file. */
export function appendFileNamed(path: string, data: string): void {
  try {
    appendFileSync(path, data);
  } catch (e) {
    throw withPath(e, path);
  }
}

export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic there.
  }
}

/**
 * Replace a whole folder atomically: the caller fills `tmpDir` (made here, beside `dir`),
 * then the old folder is moved aside, the new one renamed in, and the old one removed. When
 * any of that fails (a full disk, a folder in use...), the temp folder is removed and the old
 * folder put back before the error goes on: a failed replace leaves `dir` as it was.
 */
export function replaceDirAtomic(dir: string, fill: (tmpDir: string) => void): void {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tag = randomBytes(6).toString('hex');
  const tmp = join(parent, `.${basename(dir)}.${tag}.tmp`);
  const old = join(parent, `.${basename(dir)}.${tag}.old`);
  mkdirSync(tmp, { recursive: true });
  let moved = false;
  try {
    fill(tmp);
    fsyncDir(tmp);
    try {
      renameSync(dir, old);
      moved = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // only "no previous folder" is fine
    }
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (moved) renameSync(old, dir);
    throw e;
  }
  fsyncDir(parent);
  if (moved) rmSync(old, { recursive: true, force: true });
}
