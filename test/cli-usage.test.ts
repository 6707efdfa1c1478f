/**
 * The CLI's first word: a mistyped command is named as one ("unknown command 'evaluate' (did
 * you mean 'eval'?)"), not read as a recipe path with unknown options; no recipe and no
 * command prints the usage instead of yargs' "Not enough non-option arguments".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { commandNames, firstWord, unknownCommand } from '../src/cli/usage.js';
import { captureStderr } from './helpers/faults.js';
import { isOneLineUserError, ROOT, runCli } from './helpers/cli.js';

const NAMES = ['encode', 'eval', 'heatmap', 'index', 'search', 'serve', 'data', 'export'];

const run = (args: string[]) => captureStderr(() => main(args));

test('the real CLI: `sbert-train evaluate --model m --sts s` is an unknown command with a suggestion, one line, exit 2', () => {
  const r = runCli(['evaluate', '--model', 'builtin:tiny', '--sts', 'stsb']);
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.equal(r.stderr, "sbert-train: unknown command 'evaluate' (did you mean 'eval'?)\n");
  assert.doesNotMatch(r.stderr, /Unknown arguments/);
});

test('misspelt commands get the nearest name; a word like none of them lists the commands', async () => {
  for (const [word, guess] of [['evaluate', 'eval'], ['serach', 'search'], ['indx', 'index'], ['Encode', 'encode'], ['enc', 'encode'], ['heatmaps', 'heatmap']]) {
    const { value, stderr } = await run([word, '--model', 'x']);
    assert.equal(value, 2, word);
    assert.equal(stderr, `sbert-train: unknown command '${word}' (did you mean '${guess}'?)\n`, word);
  }
  const { value, stderr } = await run(['frobnicate']);
  assert.equal(value, 2);
  assert.equal(stderr, "sbert-train: unknown command 'frobnicate' (commands: encode, eval, heatmap, index, search, serve, data, export; or give a recipe .yaml file)\n");
});

test('global options before the word are skipped; the word still counts as the command', async () => {
  for (const args of [['--backend', 'cpu', 'evaluate'], ['--backend=cpu', 'evaluate'], ['--threads', '2', '--backend', 'cpu', 'evaluate']]) {
    const { value, stderr } = await run(args);
    assert.equal(value, 2, args.join(' '));
    assert.equal(stderr, "sbert-train: unknown command 'evaluate' (did you mean 'eval'?)\n", args.join(' '));
  }
});

test('paths stay recipes: a missing x.yaml or dir/x is "recipe not found", an existing file without extension is read as the recipe', async () => {
  for (const p of ['nope.yaml', 'runs/nope']) {
    const { value, stderr } = await run([p]);
    assert.equal(value, 2);
    assert.equal(stderr, `sbert-train: recipe not found: ${p}\n`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'usage-'));
  const file = join(dir, 'myrecipe');
  writeFileSync(file, 'model: [\n');
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const { value, stderr } = await run(['myrecipe']);
    assert.equal(value, 2);
    assert.match(stderr, /^sbert-train: myrecipe:\d+: invalid YAML/, 'the file was read as a recipe, not refused as a command');
  } finally {
    process.chdir(cwd);
  }
});

test('no recipe and no command (`sbert-train --model x`, or nothing): the message, then the usage with the command list; exit 2', async () => {
  for (const args of [['--model', 'x'], [], ['--resume']]) {
    const { value, stderr } = await run(args);
    assert.equal(value, 2, args.join(' '));
    const lines = stderr.split('\n');
    assert.equal(lines[0], 'sbert-train: give a recipe file or a command', args.join(' '));
    assert.match(stderr, /sbert-train <recipe\.yaml> \| sbert-train <command> \[options\]/);
    assert.match(stderr, /Commands:[\s\S]*sbert-train encode[\s\S]*sbert-train eval/);
    assert.doesNotMatch(stderr, /Not enough non-option arguments/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  }
});

test('a command without its required argument shows that command\'s usage', async () => {
  const { value, stderr } = await run(['export']);
  assert.equal(value, 2);
  assert.match(stderr, /^sbert-train: export: a required argument is missing\n\nsbert-train export <format>/);
  assert.doesNotMatch(stderr, /Not enough non-option arguments/);
});

test('commandNames: first words of the command modules, without the default $0', () => {
  assert.deepEqual(commandNames([{ command: '$0 <recipe>' }, { command: 'search [query]' }, { command: ['data <action>', 'd'] }, {}]), ['search', 'data', 'd']);
});

test('firstWord: skips --backend / --threads and their values; an option first means none', () => {
  assert.equal(firstWord(['eval', '--model', 'm']), 'eval');
  assert.equal(firstWord(['--backend', 'wasm', 'eval']), 'eval');
  assert.equal(firstWord(['--threads=2', 'recipe.yaml']), 'recipe.yaml');
  assert.equal(firstWord(['--model', 'x']), null);
  assert.equal(firstWord([]), null);
  assert.equal(unknownCommand(['eval'], NAMES), null);
  assert.equal(unknownCommand(['--model', 'evaluate'], NAMES), null, 'a value of an option is not a command word');
  assert.equal(unknownCommand(['a\nb'], NAMES), "unknown command 'a\\nb' (commands: encode, eval, heatmap, index, search, serve, data, export; or give a recipe .yaml file)", 'one line whatever was typed');
});

test('--version is sbert-train\'s own, whatever package.json is nearest the working folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'usage-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'someone-else', version: '9.9.9' }));
  const r = runCli(['--version'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});
