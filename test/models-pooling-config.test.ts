import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { poolingConfig, poolingModesFromConfig, type PoolingMode } from '../src/models/pooling.js';
import { ModelError } from '../src/errors.js';
import { makeModelFolder } from './helpers/models.js';

// Every 1_Pooling/config.json form sentence-transformers 3-6 writes
// (sentence_transformers Pooling.py: config_keys, pooling_mode, include_prompt).
const FORMS: [string, Record<string, unknown>, PoolingMode[]][] = [
  ['3-5 flags, one mode', { pooling_mode_mean_tokens: true, pooling_mode_cls_token: false }, ['mean']],
  ['3-5 flags, several (fixed order)', { pooling_mode_mean_tokens: true, pooling_mode_cls_token: true, pooling_mode_max_tokens: true }, ['cls', 'max', 'mean']],
  ['3-5 flags, mean_sqrt_len', { pooling_mode_mean_tokens: false, pooling_mode_mean_sqrt_len_tokens: true, include_prompt: true }, ['mean_sqrt_len']],
  ['3-5 flags, lasttoken, include_prompt false', { pooling_mode_mean_tokens: false, pooling_mode_lasttoken: true, include_prompt: false }, ['lasttoken']],
  ['pooling_mode string', { pooling_mode: 'cls' }, ['cls']],
  ['pooling_mode "mean_sqrt_len_tokens" (6)', { pooling_mode: 'mean_sqrt_len_tokens' }, ['mean_sqrt_len']],
  ['pooling_mode upper case', { pooling_mode: 'WeightedMean' }, ['weightedmean']],
  ['pooling_mode list (6)', { pooling_mode: ['cls', 'mean'] }, ['cls', 'mean']],
  ['pooling_mode list, its own order', { pooling_mode: ['mean', 'max', 'mean_sqrt_len_tokens'] }, ['mean', 'max', 'mean_sqrt_len']],
  ['pooling_mode "cls+mean" (get_pooling_mode_str)', { pooling_mode: 'cls+mean' }, ['cls', 'mean']],
  ['pooling_mode overrides the flags', { pooling_mode: 'max', pooling_mode_mean_tokens: true }, ['max']],
  ['pooling_mode null: the flags', { pooling_mode: null, pooling_mode_cls_token: true }, ['cls']],
];

test('every sentence-transformers 3-6 pooling config form gives its modes', () => {
  for (const [name, cfg, want] of FORMS) assert.deepEqual(poolingModesFromConfig({ word_embedding_dimension: 16, ...cfg }, 'p.json'), want, name);
});

test('bad pooling configs are one-line model errors naming the file and the valid modes', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ pooling_mode: 'median' }, /p\.json: unknown pooling mode 'median'; valid modes are cls, max, mean/],
    [{ pooling_mode: ['cls', 7] }, /pooling_mode must be a mode name or a list of names/],
    [{ pooling_mode: [] }, /pooling_mode is an empty list/],
    [{ pooling_mode: ['mean', 'mean_tokens'] }, /names 'mean' twice/],
    [{ pooling_mode: 'mean', include_prompt: 'no' }, /include_prompt must be true or false/],
    [{ pooling_mode_mean_tokens: false }, /no pooling mode is enabled/],
  ];
  for (const [cfg, re] of bad) assert.throws(() => poolingModesFromConfig(cfg, 'p.json'), (e: unknown) => e instanceof ModelError && re.test(e.message) && !e.message.includes('\n'));
});

const tmp = mkdtempSync(join(tmpdir(), 'sbert-pooling-'));
before(async () => {
  await initBackend('cpu', { quiet: true });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

test('a model folder with a sentence-transformers 6 pooling config loads with its modes and saves them back', async () => {
  const cases: [Record<string, unknown>, PoolingMode[]][] = [
    [{ pooling_mode_mean_tokens: false, pooling_mode: 'mean_sqrt_len_tokens' }, ['mean_sqrt_len']],
    [{ pooling_mode_mean_tokens: false, pooling_mode: ['cls', 'mean'], include_prompt: false }, ['cls', 'mean']],
    [{ pooling_mode_mean_tokens: false, pooling_mode: ['mean', 'cls'] }, ['mean', 'cls']],
  ];
  for (const [i, [pooling, want]] of cases.entries()) {
    const dir = join(tmp, `m${i}`);
    makeModelFolder(dir);
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 16, ...pooling }));
    const enc = await loadEncoder(dir);
    try {
      assert.deepEqual(enc.poolingModes, want);
      assert.equal(enc.dim, 16 * want.length);
      const [e] = await enc.encode(['pooling forms']);
      assert.equal(e.length, 16 * want.length);
      await enc.save(join(tmp, `saved${i}`));
      const written = JSON.parse(readFileSync(join(tmp, `saved${i}`, '1_Pooling', 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(poolingModesFromConfig(written, 'saved'), want);
    } finally {
      enc.dispose();
    }
  }
  // The flags cannot say an order: only a non-canonical list adds pooling_mode.
  assert.equal(poolingConfig(['cls', 'mean'], 16).pooling_mode, undefined);
  assert.deepEqual(poolingConfig(['mean_sqrt_len', 'cls'], 16).pooling_mode, ['mean_sqrt_len_tokens', 'cls']);
});
