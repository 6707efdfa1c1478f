import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, isOneLineUserError } from './helpers/cli.js';

test('--help lists every command', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  for (const c of ['encode', 'eval', 'heatmap', 'index', 'search', 'serve', 'data']) assert.match(r.stdout, new RegExp(`sbert-train ${c}`));
});

test('an unknown flag is a usage error with exit code 2 and no stack trace', () => {
  const r = runCli(['encode', '--no-such-flag']);
  assert.ok(isOneLineUserError(r), r.stderr);
});
