/**
 * Error types. A `UserError` (or subclass) is a mistake in what the user gave us: a file,
 * a recipe, a flag. The CLI prints its one-line message and exits with `exitCode` (2),
 * never a stack trace. Anything else is a bug in sbert-train and keeps its stack.
 */
export class UserError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A recipe or configuration problem; `problems` lists every one found (dotted paths). */
export class ConfigError extends UserError {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

/** Bad input data: a file that cannot be read, parsed, or holds invalid rows. */
export class DataError extends UserError {}

/** A model folder or weight file that cannot be loaded. */
export class ModelError extends UserError {}

/** The tensor backend failed (e.g. a GPU kernel that did not compile); the results cannot be trusted. */
export class BackendError extends UserError {}

/** Training stopped on purpose (NaN loss, Ctrl-C); exit code 3 is distinct from user errors. */
export class TrainingAborted extends UserError {
  override readonly exitCode: number = 3;
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/**
 * A failed file-system operation (no space left, file too large, read-only, permission, a path
 * that is a folder or not one...). Not a bug in sbert-train and not worth a stack trace: the
 * CLI prints "cannot OPERATION PATH: WHAT (CODE)" and exits 2.
 */
export class IoError extends UserError {
  constructor(
    message: string,
    readonly code: string,
    readonly path: string | undefined,
  ) {
    super(message);
  }
}

/** What each errno means to a user, in a few words. */
const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large (the file-size limit was reached)',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOENT: 'no such file or folder',
  EEXIST: 'already exists',
  ENOTEMPTY: 'folder not empty',
  EBUSY: 'busy (a mount point or in use)',
  EXDEV: 'on another file system',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  ETXTBSY: 'file busy',
  ESTALE: 'stale file handle',
};

/** The operation a Node `syscall` name stands for, as a verb phrase. */
const SYSCALL_TEXT: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  writev: 'write',
  pwrite: 'write',
  fsync: 'flush (fsync)',
  fdatasync: 'flush (fsync)',
  close: 'close',
  rename: 'rename',
  mkdir: 'create folder',
  rmdir: 'remove folder',
  rm: 'remove',
  unlink: 'remove',
  scandir: 'list folder',
  stat: 'read',
  lstat: 'read',
  fstat: 'read',
  copyfile: 'copy',
  symlink: 'link',
  link: 'link',
  ftruncate: 'truncate',
  chmod: 'change mode of',
  utime: 'touch',
};

/** True for an error thrown by a file-system call (it carries an errno code and a syscall). */
export function isFsError(e: unknown): e is NodeJS.ErrnoException {
  if (!(e instanceof Error)) return false;
  const x = e as NodeJS.ErrnoException;
  return typeof x.code === 'string' && /^E[A-Z]+$/.test(x.code) && (typeof x.syscall === 'string' || x.code in ERRNO_TEXT);
}

/** The one-line form of a file-system error: "cannot write /x/y: no space left on the device (ENOSPC)". */
export function fsErrorMessage(e: NodeJS.ErrnoException, fallbackPath?: string): string {
  const code = e.code ?? 'EIO';
  const op = e.syscall ? (SYSCALL_TEXT[e.syscall] ?? e.syscall) : 'access';
  const path = e.path ?? fallbackPath;
  const dest = (e as { dest?: string }).dest;
  const what = ERRNO_TEXT[code] ?? e.message.replace(/^[A-Z]+: /, '').split(',')[0];
  return `cannot ${op} ${path ?? '(unknown path)'}${dest ? ` -> ${dest}` : ''}: ${what} (${code})`;
}

/** Wrap a file-system error as an IoError (other errors pass through unchanged). */
export function asIoError(e: unknown, fallbackPath?: string): unknown {
  if (e instanceof UserError || !isFsError(e)) return e;
  return new IoError(fsErrorMessage(e, fallbackPath), e.code ?? 'EIO', e.path ?? fallbackPath);
}
