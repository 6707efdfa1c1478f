/**
 * The newcomer path (clone, `npm install && npx sbert-train recipe.yaml`, `npm test`) prints no
 * warning: npm reads no config key it does not know (the old `.npmrc` made every npm command
 * say `npm warn Unknown project config "onnxruntime-node-install"`), every locked package with
 * an install script is reviewed in `allowScripts` (else npm 11 warns after each install), and
 * a training run writes no warning line. One backend: the default one a newcomer gets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; allowScripts: Record<string, boolean>; scripts: Record<string, string> };

const warningLines = (text: string) => text.split('\n').filter((l) => /warn|deprecat|\(node:\d+\)/i.test(l));

test('every locked package with an install script is reviewed in allowScripts; onnxruntime-node\'s CUDA download is off', () => {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages)
    .filter(([path, p]) => path && p.hasInstallScript)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  assert.ok(withScripts.includes('onnxruntime-node'), 'the lockfile has onnxruntime-node with its install script');
  assert.deepEqual(withScripts.filter((name) => !(name in pkg.allowScripts)), [], 'not reviewed: npm would warn after install');
  assert.equal(pkg.allowScripts['onnxruntime-node'], false);
});

test('npx sbert-train in the project prints no npm warning (no unknown project config)', () => {
  const r = spawnSync(NPM, ['exec', '--offline', '--', 'sbert-train', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), pkg.version);
  assert.deepEqual(warningLines(r.stderr), []);
  assert.equal(r.stderr, '');
});

test('`npm install` in a clone builds the compiled package (prepare), so the command and the library work without a build step', () => {
  assert.match(pkg.scripts.prepare ?? '', /\bnpm run build\b/);
  assert.match(pkg.scripts.build, /tsc -p tsconfig\.build\.json/);
});

test('a training run through npx writes no warning line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'newcomer-'));
  writeFileSync(join(dir, 'pairs.csv'), readFileSync(join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv')));
  writeFileSync(
    join(dir, 'recipe.yaml'),
    'model:\n  base: builtin:tiny\n  max_seq_length: 16\ndata:\n  train: pairs.csv\n  dev: pairs.csv\n  score_scale: [0, 5]\ntraining:\n  batch_size: 4\n  max_steps: 2\n  checkpoint_every: null\noutput:\n  dir: run\n',
  );
  const r = spawnSync(NPM, ['exec', '--offline', '--prefix', ROOT, '--', 'sbert-train', 'recipe.yaml'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^done: 2 steps/m);
  assert.deepEqual(warningLines(r.stderr), [], r.stderr);
});
