/**
 * The lines a finished `sbert-train recipe.yaml` ends with: where the model, the run, the
 * report and the TensorBoard event files are, after a run on each backend of
 * test/helpers/backends.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli } from './helpers/cli.js';
import { whereToLook } from '../src/cli/train.js';
import { TEST_BACKENDS } from './helpers/backends.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-train-summary-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const PAIRS = join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv');

function recipe(name: string, dev: boolean): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      'model: { base: "builtin:tiny", max_seq_length: 16 }',
      `data: { train: "${PAIRS}", ${dev ? `dev: "${PAIRS}", ` : ''}score_scale: [0, 5] }`,
      'training: { batch_size: 8, epochs: 1, max_steps: 2, seed: 3 }',
      `output: { dir: "${join(tmp, name)}" }`,
    ].join('\n') + '\n',
  );
  return file;
}

/** The `label: value` lines after `done:`. */
function summary(stdout: string): Record<string, string> {
  const lines = stdout.slice(stdout.indexOf('done: ')).trim().split('\n').slice(1);
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
}

for (const backend of TEST_BACKENDS) test(`a finished run prints where the model, the run, report.html and the TensorBoard folder are (${backend})`, () => {
  const r = runCli([recipe(`with-dev-${backend}`, true), '--backend', backend]);
  assert.equal(r.code, 0, r.stderr);
  const s = summary(r.stdout);
  const run = join(tmp, `with-dev-${backend}`);
  assert.equal(s.run, run);
  assert.ok(s.model && existsSync(join(s.model, 'modules.json')), s.model);
  assert.equal(s.report, join(run, 'report.html'));
  assert.ok(existsSync(s.report));
  assert.equal(s.tensorboard, `${join(run, 'tensorboard')} (tensorboard --logdir ${join(run, 'tensorboard')})`);
});

test('a run folder without a report or event files (a test hook skipped them) gets no line for them', () => {
  const run = join(tmp, 'bare');
  mkdirSync(run);
  assert.equal(whereToLook(run, null), `model: null\nrun: ${run}\n`);
});
