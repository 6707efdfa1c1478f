/**
 * The one top-level error handler: every file-system failure (injected here at each kind of
 * call, with each errno a user meets) is one line naming the operation and the path, exit 2,
 * no stack trace, and nothing already written is lost or left half-written. Plus the recipe
 * inputs that used to print a stack trace (a YAML alias bomb, a folder given as the recipe,
 * control characters in keys).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asIoError, IoError, UserError, fsErrorMessage } from '../src/errors.js';
import { main } from '../src/cli/main.js';
import { captureStderr, errnoError, injectFault, type FsCall } from './helpers/faults.js';
import { isOneLineUserError, runCli } from './helpers/cli.js';

test('asIoError: an fs error becomes one line with operation, path and code; other errors pass through', () => {
  const e = asIoError(errnoError('ENOSPC', 'write', '/runs/a/model.safetensors'));
  assert.ok(e instanceof IoError);
  assert.equal((e as IoError).message, 'cannot write /runs/a/model.safetensors: no space left on the device (ENOSPC)');
  assert.equal((e as IoError).exitCode, 2);
  assert.match(fsErrorMessage(errnoError('EROFS', 'open', '/ro/x')), /^cannot open \/ro\/x: read-only file system \(EROFS\)$/);
  assert.match(fsErrorMessage(errnoError('EBUSY', 'rename', '/mnt')), /^cannot rename \/mnt: busy/);
  assert.match(fsErrorMessage(errnoError('ENOTDIR', 'mkdir', '/f/x')), /a part of the path is a file/);
  const bug = new TypeError('x is undefined');
  assert.equal(asIoError(bug), bug);
  const user = new UserError('bad');
  assert.equal(asIoError(user), user);
});

const CASES: Array<{ call: FsCall; code: string; nth: number }> = [
  { call: 'mkdirSync', code: 'EACCES', nth: 1 },
  { call: 'openSync', code: 'EROFS', nth: 1 },
  { call: 'writeSync', code: 'ENOSPC', nth: 1 },
  { call: 'writeSync', code: 'EFBIG', nth: 1 },
  { call: 'writeSync', code: 'EDQUOT', nth: 1 },
  { call: 'fsyncSync', code: 'EIO', nth: 1 },
  { call: 'renameSync', code: 'EBUSY', nth: 1 },
  { call: 'renameSync', code: 'EXDEV', nth: 1 },
];

test('injected fs faults during encode: one line naming the path, exit 2, the old output intact, no temp file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fault-encode-'));
  const input = join(dir, 'in.txt');
  writeFileSync(input, 'a first text\na second text\n');
  const outDir = join(dir, 'out');
  mkdirSync(outDir);
  const out = join(outDir, 'emb.npy');
  const before = Buffer.from('an earlier output the user keeps');
  for (const c of CASES) {
    writeFileSync(out, before);
    const undo = injectFault(c.call, c.code, c.nth, c.call === 'writeSync' || c.call === 'fsyncSync' ? '' : outDir);
    let r: { value: number; stderr: string };
    try {
      r = await captureStderr(() => main(['encode', '--model', 'builtin:tiny', '--input', input, '--output', out, '--backend', 'cpu']));
    } finally {
      assert.ok(undo(), `${c.call} ${c.code}: the fault never fired`);
    }
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('backend:'));
    assert.equal(r.value, 2, `${c.call} ${c.code}: exit code; stderr: ${r.stderr}`);
    assert.equal(lines.length, 1, `${c.call} ${c.code}: one line, got: ${r.stderr}`);
    assert.match(lines[0], new RegExp(`^sbert-train: cannot \\S.* ${outDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S*.*\\(${c.code}\\)$`), `${c.call} ${c.code}: ${lines[0]}`);
    assert.deepEqual(readFileSync(out), before, `${c.call} ${c.code}: the earlier output changed`);
    assert.deepEqual(readdirSync(outDir), ['emb.npy'], `${c.call} ${c.code}: temp files left behind`);
  }
});

test('a YAML alias bomb, a folder as the recipe and control characters in keys are one-line errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recipe-hostile-'));
  const lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [k, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f']]) lol.push(`${k}: &${k} [${Array(9).fill(`*${prev}`).join(',')}]`);
  writeFileSync(join(dir, 'bomb.yaml'), `${lol.join('\n')}\nmodel: { base: "builtin:tiny" }\n`);
  const bomb = runCli([join(dir, 'bomb.yaml')]);
  assert.ok(isOneLineUserError(bomb), bomb.stderr);
  assert.match(bomb.stderr, /bomb\.yaml: invalid YAML: Excessive alias count/);

  mkdirSync(join(dir, 'folder.yaml'));
  const folder = runCli([join(dir, 'folder.yaml')]);
  assert.ok(isOneLineUserError(folder), folder.stderr);
  assert.match(folder.stderr, /folder\.yaml: is a folder/);

  writeFileSync(join(dir, 'nul.yaml'), 'model: { base: "builtin:tiny" }\nda\u0000ta\u001b[2J: 1\n');
  const nul = runCli([join(dir, 'nul.yaml')]);
  assert.ok(isOneLineUserError(nul), nul.stderr);
  assert.ok(!/[\u0000\u001b]/.test(nul.stderr), `raw control characters printed: ${JSON.stringify(nul.stderr)}`);
  assert.match(nul.stderr, /da\\u0000ta\\u001b\[2J: unknown key/);
});
