/**
 * The package as users get it: `npm pack` (which builds dist/ through `prepare`), installed
 * into a fresh project, used from plain Node ESM and from TypeScript.
 *
 * The install is `npm ci --offline`: the consumer's lockfile pins the tarball plus this
 * repository's locked production dependencies (and @types/node and typescript for the type
 * check), so npm takes every package from its cache (filled by this repository's own
 * `npm ci`) and nothing is downloaded. (Only where that cache lacks a locked package does it
 * fall back to `--prefer-offline`, which fetches just the missing ones from the registry.) The package itself comes from the tarball only: the
 * consumer sees no src/, no tsx, and only what `exports` allows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; allowScripts: Record<string, boolean> };

let work = '';
let app = '';
let tarball = '';
const npmOutput: string[] = [];

function sh(cmd: string, args: string[], cwd: string, timeoutMs = 120_000, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, SBERT_NO_PROGRESS: '1', ...env } });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The README's "Use it from TypeScript" example: the first ```ts block after that heading. */
function readmeExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Use it from TypeScript'));
  assert.ok(section, 'README has a "## Use it from TypeScript" section');
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'that section has a ```ts example');
  return code;
}

/**
 * The consumer's lockfile: the tarball, and this repository's locked packages that it needs
 * (every production dependency, plus @types/node, undici-types and typescript as dev ones).
 */
function consumerLock(tgzName: string, manifest: Record<string, unknown>): object {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const own = lock.packages[''];
  const devWanted = new Set(['node_modules/@types/node', 'node_modules/undici-types', 'node_modules/typescript']);
  const packages: Record<string, unknown> = {
    '': manifest,
    'node_modules/sbert-train': {
      version: pkg.version,
      resolved: `file:${tgzName}`,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      ...Object.fromEntries(['license', 'dependencies', 'bin', 'engines', 'peerDependencies', 'peerDependenciesMeta'].filter((k) => own[k] !== undefined).map((k) => [k, own[k]])),
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || (entry.dev && !devWanted.has(path))) continue;
    packages[path] = entry;
  }
  return { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages };
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'sbert-pack-'));
  // 1. Pack: runs `prepare` (tsc into dist/), as `npm publish` would.
  const packed = ok(sh(NPM, ['pack', '--pack-destination', work, '--json'], ROOT, 180_000), 'npm pack');
  npmOutput.push(packed.stderr);
  const name = (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0].filename;
  tarball = join(work, name);
  // 2. A fresh project that depends on the tarball and nothing else of this repository.
  app = join(work, 'app');
  mkdirSync(app);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const manifest = {
    name: 'consumer',
    version: '1.0.0',
    private: true,
    type: 'module',
    dependencies: { 'sbert-train': `file:../${name}` },
    devDependencies: { '@types/node': lock.packages['node_modules/@types/node'].version, typescript: lock.packages['node_modules/typescript'].version },
    // What the README tells users to add: no onnxruntime-node CUDA download, the rest reviewed.
    allowScripts: pkg.allowScripts,
  };
  writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(`../${name}`, manifest), null, 2));
  let installed = sh(NPM, ['ci', '--offline', '--no-audit', '--no-fund'], app, 180_000);
  if (installed.status !== 0 && /ENOTCACHED/.test(installed.stderr)) {
    // This machine's npm cache lacks a locked package (node_modules came from elsewhere):
    // fetch only what is missing from the registry, as `npm ci` in this repository would.
    process.stderr.write('package.test: the npm cache lacks a locked package; installing with --prefer-offline\n');
    installed = sh(NPM, ['ci', '--prefer-offline', '--no-audit', '--no-fund'], app, 300_000);
  }
  ok(installed, 'npm ci of the tarball');
  npmOutput.push(installed.stdout, installed.stderr);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the compiled package only: dist/ with declarations, bin, recipes; no TypeScript sources or tests', () => {
  const files = (sh('tar', ['tzf', tarball], work).stdout ?? '').split('\n').filter(Boolean);
  assert.ok(files.includes('package/dist/index.js') && files.includes('package/dist/index.d.ts') && files.includes('package/dist/cli/main.js'));
  assert.ok(files.includes('package/bin/sbert-train.js') && files.includes('package/recipes/quickstart.yaml'));
  assert.deepEqual(files.filter((f) => /^package\/(src|test)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), []);
  const installed = JSON.parse(readFileSync(join(app, 'node_modules', 'sbert-train', 'package.json'), 'utf8')) as { exports: unknown; scripts?: unknown };
  assert.ok(installed.exports, 'installed from the tarball');
  assert.ok(!existsSync(join(app, 'node_modules', 'tsx')), 'tsx is not installed for users');
});

test('pack and install print no warning lines', () => {
  const warnings = npmOutput.join('\n').split('\n').filter((l) => /\bwarn(ing)?\b/i.test(l));
  assert.deepEqual(warnings, []);
});

// One backend, the default a user of the package gets: what is checked is the packed build (the
// engines' training and search are checked on each backend in the training and search tests).
test('plain Node ESM: the README example encodes, trains 3 steps of builtin:tiny and searches', () => {
  writeFileSync(join(app, 'example.mjs'), readmeExample());
  const r = ok(sh(process.execPath, ['example.mjs'], app, 120_000), 'node example.mjs');
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 3).map((l) => /^step (\d+): loss \d+\.\d{4}$/.exec(l)?.[1]), ['1', '2', '3'], r.stdout);
  assert.match(lines[3], /^cosine\(nurse, registered nurse\) = -?\d\.\d{3}$/);
  const hits = lines.slice(4);
  assert.equal(hits.length, 2, 'k = 2 hits');
  for (const h of hits) assert.match(h, /^[012] (nurse|welder|baker) -?\d\.\d{3}$/);
  assert.ok(existsSync(join(app, 'runs', 'run', 'model', 'model.safetensors')), 'the tuned model was saved');
  assert.doesNotMatch(r.stderr, /warn|Error|\n\s+at /i, r.stderr);
});

test('only the public entry is importable: internals are not exported', () => {
  const probe = `
    const api = await import('sbert-train');
    const names = ['loadEncoder', 'train', 'initBackend', 'createLoss', 'evaluateSts', 'evaluateBinary', 'evaluateRetrieval', 'cosine', 'buildIndex', 'addToIndex', 'searchIndex', 'loadIndex', 'HnswIndex', 'writeHeatmap', 'UserError'];
    const missing = names.filter((n) => !(n in api));
    let internal = 'importable';
    try { await import('sbert-train/dist/training/trainer.js'); } catch (e) { internal = e.code; }
    console.log(JSON.stringify({ missing, internal }));`;
  const r = ok(sh(process.execPath, ['--input-type=module', '-e', probe], app), 'import probe');
  assert.deepEqual(JSON.parse(r.stdout), { missing: [], internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
});

test('TypeScript: the README example and a typed consumer type-check against the published declarations; wrong uses do not', () => {
  writeFileSync(join(app, 'example.ts'), readmeExample());
  writeFileSync(
    join(app, 'typed.ts'),
    `import { ConfigError, createLoss, evaluateSts, initBackend, loadEncoder, loadIndex, LOSS_NAMES, searchIndex, spearman, train, UserError, writeHeatmap, cosineSimilarityMatrix } from 'sbert-train';
import type { Encoder, EvalInfo, Hit, RecipeInput, StepInfo, StsPair, TrainOptions, TrainResult } from 'sbert-train';

const recipe: RecipeInput = { model: { base: 'builtin:tiny', max_seq_length: 32 }, data: { train: 'pairs.csv', score_scale: [0, 5] }, loss: { name: 'cosent' } };
const opts: TrainOptions = { baseDir: '.', onStep: (s: StepInfo) => void s.loss.toFixed(2), onEval: (e: EvalInfo) => void e.metrics['spearman_cosine'], signal: new AbortController().signal };

export async function demo(pairs: StsPair[]): Promise<number> {
  await initBackend('wasm', { threads: 2 });
  const result: TrainResult = await train(recipe, opts);
  const encoder: Encoder = await loadEncoder(result.modelDir, { seed: 1 });
  const vectors: Float32Array[] = await encoder.encode(['a', 'b'], { batchSize: 8, normalize: true });
  const sts = await evaluateSts(encoder, pairs, { name: 'dev' });
  const hits: Hit[] = await searchIndex(loadIndex('idx'), encoder, 'query', { k: 3 });
  const many: Hit[][] = await searchIndex(loadIndex('idx'), encoder, ['q1', 'q2']);
  const paths = await writeHeatmap('out', ['a', 'b'], [{ model: 'tuned', matrix: cosineSimilarityMatrix(vectors) }], { colorDomain: 'fit' });
  const loss = createLoss(LOSS_NAMES[0]);
  try {
    await train('recipe.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.length;
    if (e instanceof UserError) return e.exitCode;
  }
  return sts.metrics[sts.primaryMetric] + hits.length + many.length + paths.png.length + loss.columns + spearman([1, 2], [2, 1]);
}
`,
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['example.ts', 'typed.ts'] }),
  );
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  ok(sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app), 'tsc --noEmit of the consumer');

  // The declarations are real types, not `any`: each wrong line below is an error.
  writeFileSync(
    join(app, 'wrong.ts'),
    `import { loadEncoder, searchIndex, train } from 'sbert-train';
await train(42);
await train({ data: { train: 'pairs.csv' } });
await train('r.yaml', { onStep: (s) => s.nope });
const encoder = await loadEncoder('builtin:tiny');
await encoder.encode('not an array');
const hits: string[] = await searchIndex(null as never, encoder, 'q');
import { train as internal } from 'sbert-train/dist/training/trainer.js';
`,
  );
  writeFileSync(join(app, 'tsconfig.wrong.json'), JSON.stringify({ extends: './tsconfig.json', files: ['wrong.ts'] }));
  const r = sh(process.execPath, [tsc, '-p', 'tsconfig.wrong.json'], app);
  assert.notEqual(r.status, 0, 'wrong uses must not type-check');
  const errorLines = new Set([...r.stdout.matchAll(/^wrong\.ts\((\d+),\d+\): error TS\d+/gm)].map((m) => Number(m[1])));
  assert.deepEqual([...errorLines].sort((a, b) => a - b), [2, 3, 4, 6, 7, 8], r.stdout);
});

test('the installed command runs the compiled code (no tsx) and prints no warning', () => {
  const bin = join(app, 'node_modules', '.bin', 'sbert-train');
  const help = ok(sh(bin, ['--help'], app), 'sbert-train --help');
  assert.match(help.stdout, /sbert-train <recipe\.yaml> \| sbert-train <command> \[options\]/);
  assert.equal(help.stderr, '');
  const wrong = sh(bin, ['evaluate', '--model', 'x'], app);
  assert.equal(wrong.status, 2);
  assert.equal(wrong.stderr, "sbert-train: unknown command 'evaluate' (did you mean 'eval'?)\n");
  const npx = ok(sh(NPM, ['exec', '--offline', '--', 'sbert-train', '--version'], app), 'npx sbert-train --version');
  assert.equal(npx.stdout.trim(), pkg.version);
  assert.equal(npx.stderr, '', 'npx prints no warning');
  assert.ok(readdirSync(join(app, 'node_modules', 'sbert-train')).every((f) => f !== 'src'));
});
