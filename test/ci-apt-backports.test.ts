/**
 * .ci/apt-backports.mjs: CI's backports source comes from the machine's own apt sources (same
 * mirror and key, suite <codename>-backports), and .ci/run names no host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';

const SCRIPT = join(ROOT, '.ci', 'apt-backports.mjs');

/** A fake /etc/apt (files: path under it -> text) and os-release; runs the script against them. */
function backports(files: Record<string, string>, codename = 'bookworm'): { code: number; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'apt-'));
  mkdirSync(join(dir, 'apt', 'sources.list.d'), { recursive: true });
  for (const [p, text] of Object.entries(files)) writeFileSync(join(dir, 'apt', p), text);
  writeFileSync(join(dir, 'os-release'), `PRETTY_NAME="Debian GNU/Linux 12"\nVERSION_CODENAME=${codename}\nID=debian\n`);
  const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8', env: { ...process.env, APT_DIR: join(dir, 'apt'), OS_RELEASE: join(dir, 'os-release') } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.internal/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.internal/debian-security
Suites: bookworm-security
Components: main
`;

test('deb822 sources (Debian 12 default): the release entry\'s mirror and key, suite bookworm-backports', () => {
  const r = backports({ 'sources.list.d/debian.sources': DEB822 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example.internal/debian bookworm-backports main\n');
});

test('one-line sources.list with options and comments; security and other repositories are not the release', () => {
  const r = backports({
    'sources.list': [
      '# deb http://old.example/debian bookworm main',
      'deb http://security.example/debian-security bookworm-security main',
      'deb-src http://src.example/debian bookworm main',
      'deb [arch=amd64 signed-by=/etc/apt/keyrings/x.gpg] https://cache.local:3142/debian bookworm main contrib # our cache',
    ].join('\n'),
    'sources.list.d/vendor.list': 'deb https://vendor.example/apt stable main\n',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'deb [signed-by=/etc/apt/keyrings/x.gpg] https://cache.local:3142/debian bookworm-backports main\n');
});

test('the codename comes from os-release; a disabled stanza and an inline key are handled', () => {
  const sources = `Types: deb
URIs: http://disabled.example/debian
Suites: trixie
Components: main
Enabled: no

Types: deb deb-src
URIs: http://mirror.example/debian
Suites: trixie
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 xsFNBF...
 -----END PGP PUBLIC KEY BLOCK-----
`;
  const r = backports({ 'sources.list.d/debian.sources': sources }, 'trixie');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'deb http://mirror.example/debian trixie-backports main\n');
});

test('backports already configured: prints nothing (no duplicate entry for apt to warn about)', () => {
  const r = backports({ 'sources.list.d/debian.sources': DEB822, 'sources.list.d/ci-backports.list': 'deb http://mirror.example.internal/debian bookworm-backports main\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
});

test('no entry for the release: exit 1 with the reason, nothing on stdout', () => {
  const r = backports({ 'sources.list.d/vendor.list': 'deb https://vendor.example/apt stable main\n', 'sources.list.d/old.list.disabled': 'deb http://x/debian bookworm main\n' });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^apt-backports: no enabled 'deb' source for bookworm in /);
});

test('.ci/run names no host: its only apt source line comes from apt-backports.mjs', () => {
  const run = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  const code = run.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  assert.doesNotMatch(code, /[a-z]+:\/\//, 'no URL in .ci/run');
  assert.doesNotMatch(code, /bookworm/, 'no release name in .ci/run');
  assert.match(code, /node \.ci\/apt-backports\.mjs/);
});
