import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadRecipe, parseRecipe, recipeToYaml, recipeFromYaml, nearest } from '../src/recipe/index.js';
import { ConfigError } from '../src/errors.js';
import { ROOT } from './helpers/cli.js';

const FIX = join(ROOT, 'test', 'fixtures', 'recipes');
const base = () => ({ model: { base: 'builtin:tiny' }, data: { train: 'pairs.csv', dev: 'pairs.csv', score_scale: [0, 5] } });

function problemsOf(raw: unknown): string[] {
  try {
    parseRecipe(raw, { baseDir: FIX, fileName: 'r.yaml' });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  return [];
}

/** [what, recipe, expected problem (regex, matched against one of the problems)] */
const INVALID: [string, () => unknown, RegExp][] = [
  ['unknown top-level key with suggestion', () => ({ ...base(), optimiser: { lr: 1 } }), /^optimiser: unknown key \(did you mean 'optimizer'\?\)/],
  ['unknown nested key with suggestion', () => ({ ...base(), training: { batchsize: 8 } }), /^training\.batchsize: unknown key \(did you mean 'batch_size'\?\)/],
  ['unknown key far from any name lists the valid ones', () => ({ ...base(), loss: { zzzzzz: 1 } }), /^loss\.zzzzzz: unknown key; valid keys: name, margin/],
  ['missing model.base', () => ({ data: base().data }), /^model\.base: required/],
  ['missing data.train', () => ({ model: { base: 'builtin:tiny' }, data: {} }), /^data\.train: required/],
  ['wrong type: string for a number', () => ({ ...base(), optimizer: { lr: 'fast' } }), /^optimizer\.lr: must be a number, got the string "fast"/],
  ['wrong type: number for a boolean', () => ({ ...base(), training: { shuffle: 1 } }), /^training\.shuffle: must be true or false, got number 1/],
  ['wrong type: list for a mapping', () => ({ ...base(), schedule: ['linear'] }), /^schedule: must be a mapping/],
  ['non-integer batch size', () => ({ ...base(), training: { batch_size: 8.5 } }), /^training\.batch_size: must be an integer, got 8\.5/],
  ['out of range: negative lr', () => ({ ...base(), optimizer: { lr: -1 } }), /^optimizer\.lr: must be > 0 and <= 10, got -1/],
  ['out of range: beta of 1', () => ({ ...base(), optimizer: { betas: [0.9, 1] } }), /^optimizer\.betas\[1\]: must be >= 0 and < 1, got 1/],
  ['betas not a pair', () => ({ ...base(), optimizer: { betas: [0.9] } }), /^optimizer\.betas: must be a list of two numbers/],
  ['out of range: validation_split of 1', () => ({ ...base(), data: { ...base().data, dev: null, validation_split: 1 } }), /^data\.validation_split: must be >= 0 and < 1, got 1/],
  ['unknown loss name with suggestion', () => ({ ...base(), loss: { name: 'cosine_mes' } }), /^loss\.name: must be one of .*got the string "cosine_mes" \(did you mean 'cosine_mse'\?\)/],
  ['unknown pooling', () => ({ ...base(), model: { base: 'builtin:tiny', pooling: 'avg' } }), /^model\.pooling: must be one of mean, cls, max/],
  ['loss needs a third column the mapping lacks', () => ({ ...base(), loss: { name: 'triplet' }, data: { train: 'pairs.csv', columns: { texts: ['sentence1', 'sentence2'], label: null } } }), /^data\.columns\.texts: loss 'triplet' needs 3 text columns, the mapping gives 2/],
  ['loss needs a label the mapping lacks', () => ({ ...base(), data: { train: 'pairs.csv', columns: { label: null } } }), /^data\.columns\.label: loss 'cosine_mse' needs a label column/],
  ['loss parameter the loss does not use', () => ({ ...base(), loss: { name: 'cosine_mse', margin: 0.5 } }), /^loss\.margin: not used by loss 'cosine_mse'/],
  ['distance the loss does not use', () => ({ ...base(), loss: { name: 'cosine_mse', distance: 'euclidean' } }), /^loss\.distance: not used by loss 'cosine_mse'/],
  ['unknown distance', () => ({ ...base(), loss: { name: 'contrastive', distance: 'hamming' } }), /^loss\.distance: must be one of cosine, euclidean, manhattan/],
  ['margin must be positive', () => ({ ...base(), loss: { name: 'contrastive', margin: 0 } }), /^loss\.margin: must be > 0, got 0/],
  ['missing data file', () => ({ ...base(), data: { train: 'nope.csv' } }), /^data\.train: file not found: .*nope\.csv/],
  ['unsupported data format', () => ({ ...base(), data: { train: 'valid.yaml' } }), /^data\.train: must be a \.csv, \.tsv or \.jsonl file/],
  ['dev file and validation_split together', () => ({ ...base(), data: { ...base().data, validation_split: 0.2 } }), /^data\.validation_split: give either data\.dev or validation_split, not both/],
  ['early stopping without a dev set', () => ({ ...base(), data: { train: 'pairs.csv' }, evaluation: { early_stopping: { patience: 3 } } }), /^evaluation\.early_stopping\.patience: needs a dev set/],
  ['warmup steps and ratio together', () => ({ ...base(), schedule: { warmup_steps: 10, warmup_ratio: 0.1 } }), /^schedule\.warmup_ratio: give either warmup_steps or warmup_ratio/],
  ['score_scale with low above high', () => ({ ...base(), data: { ...base().data, score_scale: [5, 0] } }), /^data\.score_scale: low must be below high/],
  ['mixed named and indexed columns', () => ({ ...base(), data: { train: 'pairs.csv', columns: { texts: [0, 'sentence2'], label: 'score' } } }), /^data\.columns: give every column by name or every column by index/],
  ['null where not allowed', () => ({ ...base(), training: { epochs: null } }), /^training\.epochs: must not be null/],
  ['monitor metric for an unlabelled loss', () => ({ ...base(), loss: { name: 'multiple_negatives_ranking' }, data: { train: 'pairs.csv', dev: 'pairs.csv', columns: { label: null } }, evaluation: { monitor: 'spearman_cosine' } }), /^evaluation\.monitor: 'spearman_cosine' needs a scored dev set/],
];

for (const [what, make, want] of INVALID) {
  test(`invalid recipe: ${what}`, () => {
    const problems = problemsOf(make());
    assert.ok(problems.some((p) => want.test(p)), `expected a problem matching ${want}, got:\n  ${problems.join('\n  ')}`);
  });
}

test('at least 15 invalid recipes are covered', () => assert.ok(INVALID.length >= 15));

test('every problem is reported at once, each with its dotted path', () => {
  const problems = problemsOf({ model: {}, data: { train: 'pairs.csv' }, optimizer: { lr: 'x', betas: 3 }, trainin: {} });
  assert.equal(problems.length, 4, problems.join('\n'));
  assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['model.base', 'optimizer.betas', 'optimizer.lr', 'trainin']);
});

test('the ConfigError message is one line naming the file and every problem', () => {
  try {
    parseRecipe({ model: {}, data: {} }, { baseDir: FIX, fileName: 'r.yaml' });
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.ok(!e.message.includes('\n'));
    assert.match(e.message, /^r\.yaml: 2 problems: model\.base: required.*; data\.train: required/);
  }
});

test('a valid recipe gets every default, absolute paths and derived defaults', () => {
  const r = loadRecipe(join(FIX, 'valid.yaml'), { cwd: '/tmp/somewhere' });
  assert.equal(r.name, 'valid');
  assert.equal(r.data.train, join(FIX, 'pairs.csv'), 'relative paths resolve against the recipe folder');
  assert.equal(r.optimizer.lr, 1e-3);
  assert.deepEqual(r.optimizer.betas, [0.9, 0.999]);
  assert.equal(r.optimizer.eps, 1e-8);
  assert.equal(r.optimizer.weight_decay, 0.01, 'adamw default decay');
  assert.equal(r.training.no_duplicates, false, 'cosine_mse has no in-batch negatives');
  assert.equal(r.evaluation.monitor, 'spearman_cosine');
  assert.equal(r.evaluation.mode, 'max');
  assert.equal(r.output.dir, '/tmp/somewhere/runs/valid');
  assert.equal(r.output.model_dir, '/tmp/somewhere/runs/valid/model');
  const adam = parseRecipe({ ...base(), optimizer: { name: 'adam' }, loss: { name: 'multiple_negatives_ranking' }, data: { train: 'pairs.csv', columns: { label: null } } }, { baseDir: FIX });
  assert.equal(adam.optimizer.weight_decay, 0, 'torch Adam default decay');
  assert.equal(adam.training.no_duplicates, true, 'in-batch negatives default to no duplicates');
  assert.equal(adam.evaluation.monitor, 'dev_loss');
  assert.equal(adam.evaluation.mode, 'min');
});

test('the resolved recipe round-trips through its YAML form', () => {
  const r = loadRecipe(join(FIX, 'valid.yaml'));
  assert.deepEqual(recipeFromYaml(recipeToYaml(r), '/'), r);
});

test('invalid YAML names the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'recipe-'));
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'model:\n  base: builtin:tiny\n data: [\n');
  assert.throws(() => loadRecipe(f), (e: Error) => e instanceof ConfigError && /bad\.yaml:\d+: invalid YAML/.test(e.message));
  assert.throws(() => loadRecipe(join(dir, 'missing.yaml')), /recipe not found/);
});

test('nearest suggests only plausible typos', () => {
  assert.equal(nearest('lerning_rate', ['lr', 'learning_rate']), 'learning_rate');
  assert.equal(nearest('qqqq', ['lr', 'betas']), null);
});

test('loss.distance reaches the loss (contrastive on euclidean distance)', async () => {
  const { buildLoss } = await import('../src/training/data.js');
  const r = parseRecipe({ ...base(), loss: { name: 'contrastive', distance: 'euclidean', margin: 2 } }, { baseDir: FIX });
  assert.equal(buildLoss(r).params.distance, 'euclidean');
  assert.equal(buildLoss(r).params.margin, 2);
});
