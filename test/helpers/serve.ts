/** `sbert-train serve` in a child process, as a user starts it: the URL it prints, its stderr, its exit. */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.js';

export interface ServeProcess {
  child: ChildProcess;
  /** The http://host:port/ it printed (rejects if it exits first, or prints none within 90 s). */
  url: Promise<string>;
  /** Its exit code, once it exits. */
  exited: Promise<number | null>;
  stderr(): string;
}

export function startServe(args: string[]): ServeProcess {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env: { ...process.env, SBERT_NO_PROGRESS: '1' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const url = new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no URL printed; stderr: ${stderr}`)), 90_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/[^\s]+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((c) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${c}: ${stderr}`));
    });
  });
  url.catch(() => {}); // a rejection after the URL came is not an error
  return { child, url, exited, stderr: () => stderr };
}
