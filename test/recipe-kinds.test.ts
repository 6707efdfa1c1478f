/** The generic schema kinds (list, map, oneOf) that task and method keys are built from. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateValue } from '../src/recipe/validate.js';
import type { FieldSpec } from '../src/recipe/schema.js';

const dims: FieldSpec = { kind: 'list', items: { kind: 'number', integer: true, min: 1, why: '' }, minItems: 1, unique: true, why: '' };
const prompts: FieldSpec = { kind: 'map', values: { kind: 'string', why: '' }, why: '' };
const train: FieldSpec = {
  kind: 'oneOf',
  why: '',
  options: [
    { kind: 'string', why: '' },
    { kind: 'list', minItems: 1, why: '', items: { kind: 'object', fields: { file: { kind: 'string', required: true, why: '' }, weight: { kind: 'number', min: 0, default: 1, why: '' } } } },
  ],
};

function check(value: unknown, spec: FieldSpec, path: string): { out: unknown; problems: string[] } {
  const problems: string[] = [];
  const out = validateValue(value, spec, path, problems);
  return { out, problems };
}

test('list: items checked with their index in the path, duplicates and counts refused', () => {
  assert.deepEqual(check([384, 128], dims, 'loss.matryoshka.dims'), { out: [384, 128], problems: [] });
  assert.deepEqual(check([384, 12.5, -1], dims, 'loss.matryoshka.dims').problems, ['loss.matryoshka.dims[1]: must be an integer, got 12.5', 'loss.matryoshka.dims[2]: must be >= 1, got -1']);
  assert.deepEqual(check([64, 64], dims, 'd').problems, ['d[1]: 64 is listed twice']);
  assert.deepEqual(check([], dims, 'd').problems, ['d: must list at least 1 item(s), got 0']);
  assert.deepEqual(check(64, dims, 'd').problems, ['d: must be a list, got number 64']);
  assert.deepEqual(check([null], dims, 'd').problems, ['d[0]: must not be null']);
});

test('map: free names, each value checked under its name', () => {
  assert.deepEqual(check({ query: 'query: ', document: 'passage: ' }, prompts, 'model.prompts'), { out: { query: 'query: ', document: 'passage: ' }, problems: [] });
  assert.deepEqual(check({ query: 3 }, prompts, 'model.prompts').problems, ['model.prompts.query: must be a non-empty string, got number 3']);
  assert.deepEqual(check(['query: '], prompts, 'model.prompts').problems, ['model.prompts: must be a mapping (name: value), got a list']);
});

test('oneOf: the option of the value type checks it, defaults filled inside list items', () => {
  assert.deepEqual(check('a.csv', train, 'data.train'), { out: 'a.csv', problems: [] });
  assert.deepEqual(check([{ file: 'a.csv' }], train, 'data.train'), { out: [{ file: 'a.csv', weight: 1 }], problems: [] });
  assert.deepEqual(check([{ file: 'a.csv', wieght: 2 }], train, 'data.train').problems, ["data.train[0].wieght: unknown key (did you mean 'weight'?)"]);
  assert.deepEqual(check([{}], train, 'data.train').problems, ['data.train[0].file: required']);
  assert.deepEqual(check(5, train, 'data.train').problems, ['data.train: must be a string or a list, got number 5']);
});
