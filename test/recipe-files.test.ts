/** The shipped recipes validate, and recipes/README.md documents every key of the schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRecipe, RECIPE_SCHEMA } from '../src/recipe/index.js';
import type { FieldSpec } from '../src/recipe/schema.js';
import { ROOT, SHARED } from './helpers/cli.js';

/** Every documented key: nested fields as `a.b`, the fields of list items as `a[].b`, each shape of a oneOf. */
function keys(spec: FieldSpec, path: string): string[] {
  const fields = (fs: Record<string, FieldSpec>, prefix: string) => Object.entries(fs).flatMap(([k, f]) => keys(f, prefix ? `${prefix}.${k}` : k));
  if (spec.kind === 'object') return fields(spec.fields, path);
  if (spec.kind === 'list' && spec.items.kind === 'object') return [path, ...fields(spec.items.fields, `${path}[]`)];
  if (spec.kind === 'oneOf') return [...new Set(spec.options.flatMap((o) => keys(o, path)))];
  return [path];
}

test('recipes/README.md lists every recipe key with its default', () => {
  const readme = readFileSync(join(ROOT, 'recipes', 'README.md'), 'utf8');
  const all = keys(RECIPE_SCHEMA, '');
  assert.ok(all.length > 40);
  for (const k of all) assert.ok(readme.includes(`| \`${k}\` |`), `recipes/README.md lacks a row for ${k}`);
});

test('quickstart.yaml validates and uses the built-in model and the quickstart data', () => {
  const r = loadRecipe(join(ROOT, 'recipes', 'quickstart.yaml'));
  assert.equal(r.model.base, 'builtin:tiny');
  assert.equal(r.data.train, join(ROOT, 'datasets', 'quickstart', 'train.csv'));
});

test('stsb.yaml validates against ../shared', (t) => {
  if (!SHARED) return t.skip('../shared is absent');
  const r = loadRecipe(join(ROOT, 'recipes', 'stsb.yaml'));
  assert.deepEqual(r.data.columns.texts, [5, 6]);
  assert.equal(r.data.format, 'tsv');
});

test('esco-job-titles.yaml is the Keras/USE recipe', (t) => {
  const file = join(ROOT, 'recipes', 'esco-job-titles.yaml');
  if (!existsSync(join(ROOT, 'data', 'esco-pairs.csv'))) {
    // Without the generated pairs file, validation must fail on exactly that file.
    assert.throws(() => loadRecipe(file), /1 problem: data\.train: file not found: .*esco-pairs\.csv/);
    return t.diagnostic('data/esco-pairs.csv not generated; checked the error instead');
  }
  const r = loadRecipe(file);
  assert.equal(r.loss.name, 'angular_mse');
  assert.equal(r.optimizer.lr, 1e-5);
  assert.equal(r.optimizer.clip_grad_norm, 1);
  assert.equal(r.training.batch_size, 8);
  assert.equal(r.evaluation.early_stopping.patience, 3);
});
