import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'sbert-train.js');
/** ../shared beside the project root (reference data); null when absent. */
export const SHARED = existsSync(join(ROOT, '..', 'shared')) ? join(ROOT, '..', 'shared') : null;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real CLI in a child process (as a user would), with a time limit. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, SBERT_NO_PROGRESS: '1', ...opts.env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Assert a user error: exit code 2, one line on stderr, no stack trace. */
export function isOneLineUserError(r: CliResult): boolean {
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('backend:'));
  return r.code === 2 && lines.length >= 1 && !/\n\s+at /.test(r.stderr) && lines[0].startsWith('sbert-train: ');
}
