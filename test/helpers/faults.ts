/**
 * In-process fault injection for file-system calls: make the n-th call of `fs.<name>` fail with
 * an errno error shaped the way Node shapes it (code, errno, syscall, and a path only where Node
 * gives one: `writeSync(fd)` and `fsyncSync(fd)` report none). `syncBuiltinESMExports` makes
 * the patched function visible to ES modules that imported it by name (`import { writeSync }
 * from 'node:fs'`), so the real code under test hits the fault.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { constants } from 'node:os';

export type FsCall = 'writeSync' | 'openSync' | 'fsyncSync' | 'renameSync' | 'mkdirSync' | 'appendFileSync';

const SYSCALL: Record<FsCall, string> = { writeSync: 'write', openSync: 'open', fsyncSync: 'fsync', renameSync: 'rename', mkdirSync: 'mkdir', appendFileSync: 'open' };

/** An error as Node's fs raises it. */
export function errnoError(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const errno = (constants.errno as Record<string, number>)[code] ?? 5;
  const e = new Error(`${code}: injected fault, ${syscall}${path ? ` '${path}'` : ''}`) as NodeJS.ErrnoException;
  return Object.assign(e, { errno: -errno, code, syscall, ...(path !== undefined ? { path } : {}) });
}

/**
 * Fail the `nth` (1-based) call of `fs[call]` that touches a path under `under` (for fd-based
 * calls: any fd above 2, i.e. not stdout / stderr). Returns a function that undoes the patch
 * and tells whether the fault fired.
 */
export function injectFault(call: FsCall, code: string, nth: number, under: string): () => boolean {
  const original = fs[call] as (...args: unknown[]) => unknown;
  let count = 0;
  let fired = false;
  const patched = (...args: unknown[]) => {
    const first = args[0];
    const relevant = typeof first === 'string' ? first.startsWith(under) : typeof first === 'number' ? first > 2 : false;
    if (relevant && !fired && ++count === nth) {
      fired = true;
      const pathless = call === 'writeSync' || call === 'fsyncSync';
      throw errnoError(code, SYSCALL[call], pathless ? undefined : String(first));
    }
    return original(...args);
  };
  (fs as unknown as Record<string, unknown>)[call] = patched;
  syncBuiltinESMExports();
  return () => {
    (fs as unknown as Record<string, unknown>)[call] = original;
    syncBuiltinESMExports();
    return fired;
  };
}

/**
 * Capture what `fn` writes to process.stderr. Stdout is left alone: the test runner reports on
 * it from this same process, and capturing it would swallow other tests' result lines.
 */
export async function captureStderr<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const err: string[] = [];
  const we = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const value = await fn();
    return { value, stderr: err.join('') };
  } finally {
    process.stderr.write = we;
  }
}
