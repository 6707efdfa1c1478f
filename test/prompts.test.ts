/**
 * Prompts, the sentence-transformers way: prepended to the text before tokenisation, saved in
 * config_sentence_transformers.json (`prompts`, `default_prompt_name`), used by encode
 * (--prompt-name), by index build (the document prompt for items, the query prompt recorded
 * for search), by search and by index add; recipe keys model.prompts, model.default_prompt_name
 * and training.prompts, with their errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { ModelError, UserError } from '../src/errors.js';
import { loadEncoder, type SentenceEncoder } from '../src/models/index.js';
import { promptsFromConfig, rolePrompt, truncateRows } from '../src/models/prompts.js';
import { parseRecipe } from '../src/recipe/index.js';
import { withColumnPrompts } from '../src/training/embedding-options.js';
import { train } from '../src/training/index.js';
import { buildIndex, addToIndex, searchIndex } from '../src/index.js';
import { indexedView } from '../src/search/index.js';
import { readNpy } from '../src/util/npy.js';
import { ROOT, isOneLineUserError, runCli } from './helpers/cli.js';
import { startServe } from './helpers/serve.js';

const tmp = mkdtempSync(join(tmpdir(), 'prompts-test-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.before(async () => {
  await initBackend('wasm', { quiet: true });
});
const FIX = join(ROOT, 'test', 'fixtures', 'recipes');
const PROMPTS = { query: 'query: ', document: 'passage: ' };
const ITEMS = ['registered nurse in a hospital', 'software developer', 'truck driver', 'data scientist', 'primary school teacher'];

let modelDir: string | null = null;
/** builtin:tiny with query/document prompts, saved once. */
async function promptedModel(): Promise<string> {
  if (modelDir) return modelDir;
  const enc = await loadEncoder('builtin:tiny');
  enc.setPrompts({ prompts: PROMPTS, defaultPromptName: null });
  modelDir = join(tmp, 'prompted');
  await enc.save(modelDir);
  enc.dispose();
  return modelDir;
}

const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

test('config_sentence_transformers.json: prompts and default_prompt_name are checked as sentence-transformers does', () => {
  const f = 'cfg.json';
  assert.deepEqual(promptsFromConfig({ prompts: { q: 'q: ' }, default_prompt_name: 'q' }, f), { prompts: { q: 'q: ' }, defaultPromptName: 'q' });
  assert.deepEqual(promptsFromConfig({}, f), { prompts: {}, defaultPromptName: null });
  assert.throws(() => promptsFromConfig({ prompts: { q: 3 } }, f), (e) => e instanceof ModelError && /cfg\.json: prompts\.q must be a text/.test(e.message));
  assert.throws(() => promptsFromConfig({ prompts: ['x'] }, f), ModelError);
  assert.throws(() => promptsFromConfig({ prompts: { q: 'q: ' }, default_prompt_name: 'd' }, f), /default_prompt_name 'd' is not one of its prompts \(q\)/);
  // sentence-transformers 5's encode_query / encode_document choice.
  assert.equal(rolePrompt({ prompts: { passage: 'p: ', query: 'q: ' }, defaultPromptName: null }, 'document'), 'p: ');
  assert.equal(rolePrompt({ prompts: { x: 'x: ' }, defaultPromptName: 'x' }, 'query'), 'x: ');
  assert.equal(rolePrompt({ prompts: {}, defaultPromptName: null }, 'query'), '');
});

test('a prompt is prepended before tokenisation; promptName, the default prompt and an explicit empty prompt choose it as sentence-transformers does', async () => {
  const enc = await loadEncoder('builtin:tiny');
  enc.setPrompts({ prompts: PROMPTS, defaultPromptName: 'query' });
  const texts = ['nurse', 'software developer'];
  const prefixed = await enc.encode(texts.map((t) => `passage: ${t}`), { prompt: '' });
  const named = await enc.encode(texts, { promptName: 'document' });
  assert.deepEqual(named.map((r) => Array.from(r)), prefixed.map((r) => Array.from(r)), 'the prompt is part of the tokenised text');
  const byDefault = await enc.encode(texts);
  const query = await enc.encode(texts.map((t) => `query: ${t}`), { prompt: '' });
  assert.deepEqual(byDefault.map((r) => Array.from(r)), query.map((r) => Array.from(r)), 'default_prompt_name applies when none is asked for');
  const none = await enc.encode(texts, { prompt: '' });
  assert.notDeepEqual(Array.from(none[0]), Array.from(byDefault[0]), 'the prompt tokens change the embedding (include_prompt: true pools them)');
  await assert.rejects(enc.encode(texts, { promptName: 'passage' }), (e) => e instanceof UserError && /no prompt named 'passage' \(its prompts: query, document\)/.test(e.message));
  enc.dispose();
});

test('prompts round-trip through config_sentence_transformers.json; include_prompt: false is refused with a prompt', async () => {
  const enc = await loadEncoder('builtin:tiny');
  enc.setPrompts({ prompts: PROMPTS, defaultPromptName: 'query' });
  const dir = join(tmp, 'roundtrip');
  await enc.save(dir);
  enc.dispose();
  const cfg = JSON.parse(readFileSync(join(dir, 'config_sentence_transformers.json'), 'utf8'));
  assert.deepEqual(cfg.prompts, PROMPTS);
  assert.equal(cfg.default_prompt_name, 'query');
  const back = (await loadEncoder(dir)) as SentenceEncoder;
  assert.deepEqual(back.prompts, { prompts: PROMPTS, defaultPromptName: 'query' });
  back.dispose();
  // A Pooling config that excludes the prompt's tokens: not implemented, so refused rather than pooled wrongly.
  const poolFile = join(dir, '1_Pooling', 'config.json');
  writeFileSync(poolFile, JSON.stringify({ ...JSON.parse(readFileSync(poolFile, 'utf8')), include_prompt: false }));
  const noPrompt = await loadEncoder(dir);
  await assert.rejects(noPrompt.encode(['x']), (e) => e instanceof ModelError && /include_prompt: false/.test(e.message));
  assert.equal((await noPrompt.encode(['x'], { prompt: '' })).length, 1, 'without a prompt it encodes');
  const resaved = join(tmp, 'resaved');
  await (noPrompt as SentenceEncoder).save(resaved);
  assert.equal(JSON.parse(readFileSync(join(resaved, '1_Pooling', 'config.json'), 'utf8')).include_prompt, false, 'kept when saved again');
  noPrompt.dispose();
});

test('encode --prompt-name prepends the named prompt; an unknown name is one line, exit 2', async () => {
  const model = await promptedModel();
  const input = join(tmp, 'q.txt');
  writeFileSync(input, 'nurse\nsoftware developer\n');
  const out = join(tmp, 'q.npy');
  const r = runCli(['encode', '--model', model, '--input', input, '--output', out, '--prompt-name', 'query', '--backend', 'wasm']);
  assert.equal(r.code, 0, r.stderr);
  const enc = await loadEncoder(model);
  const want = await enc.encode(['query: nurse', 'query: software developer'], { prompt: '' });
  const got = readNpy(out);
  for (let i = 0; i < 2; i++) for (let j = 0; j < enc.dim; j++) assert.ok(Math.abs(got.data[i * enc.dim + j] - want[i][j]) < 1e-6);
  enc.dispose();
  const bad = runCli(['encode', '--model', model, '--input', input, '--output', out, '--prompt-name', 'nope', '--backend', 'wasm']);
  assert.ok(isOneLineUserError(bad), bad.stderr);
  assert.match(bad.stderr, /no prompt named 'nope' \(its prompts: query, document\)/);
});

test('an index records its dim and prompts: items get the document prompt, queries the query prompt, at the same prefix size (library)', async () => {
  const enc = await loadEncoder(await promptedModel());
  const { index } = await buildIndex(enc, ITEMS.map((text, i) => ({ id: String(i), text })), { dim: 64, progress: false });
  const m = index.manifest();
  assert.equal(m.dim, 64);
  assert.equal(m.model.dim, 128);
  assert.deepEqual(m.model.prompts, { document: 'passage: ', query: 'query: ' });
  const docs = truncateRows(await enc.encode(ITEMS.map((t) => `passage: ${t}`), { prompt: '' }), 64);
  const [q] = truncateRows(await enc.encode(['query: hospital nurse'], { prompt: '' }), 64);
  const hits = await searchIndex(index, enc, 'hospital nurse', { k: 5 });
  for (const h of hits) assert.ok(Math.abs(h.score - cos(q, docs[Number(h.id)])) < 1e-4, `score of ${h.id}: ${h.score} vs ${cos(q, docs[Number(h.id)])}`);
  await addToIndex(index, enc, [{ id: 'new', text: 'forklift operator' }], { progress: false });
  const [added] = truncateRows(await enc.encode(['passage: forklift operator'], { prompt: '' }), 64);
  const top = index.search(added, 1)[0];
  assert.equal(top.id, 'new');
  assert.ok(top.score > 0.9999, 'index add embeds with the document prompt at the index prefix size');
  // Another model size is refused, naming both sizes.
  assert.throws(() => indexedView({ dim: 64, model: { path: 'x', weightsHash: 'h', dim: 256 } }, enc, 'h', 'DIR', 'query'), (e) => e instanceof UserError && /128-dimensional.*256-dimensional/.test(e.message));
  enc.dispose();
});

/** `sbert-train serve` on DIR: the results of one GET /search, then SIGTERM. */
async function serveOnce(dir: string, q: string): Promise<Array<{ id: string; text: string; score: number }>> {
  const serve = startServe(['--index', dir, '--port', '0', '--reload', '0', '--backend', 'wasm']);
  try {
    const url = await serve.url;
    return ((await (await fetch(`${url}search?q=${encodeURIComponent(q)}&k=3`)).json()) as { results: Array<{ id: string; text: string; score: number }> }).results;
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
}

test('index build --dim and search / serve use the recorded prefix and prompts (CLI)', async () => {
  const model = await promptedModel();
  const corpus = join(tmp, 'corpus.txt');
  writeFileSync(corpus, ITEMS.join('\n') + '\n');
  const dir = join(tmp, 'idx');
  const b = runCli(['index', 'build', '--model', model, '--input', corpus, '--out', dir, '--dim', '32', '--ef', '50', '--backend', 'wasm']);
  assert.equal(b.code, 0, b.stderr);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.dim, 32);
  assert.deepEqual(manifest.model.prompts, { document: 'passage: ', query: 'query: ' });
  const s = runCli(['search', '--index', dir, '--json', '-k', '3', '--backend', 'wasm', 'school teacher']);
  assert.equal(s.code, 0, s.stderr);
  const results = JSON.parse(s.stdout.trim()).results as Array<{ id: string; text: string; score: number }>;
  const enc = await loadEncoder(model);
  const [q] = truncateRows(await enc.encode(['query: school teacher'], { prompt: '' }), 32);
  for (const r of results) {
    const [d] = truncateRows(await enc.encode([`passage: ${r.text}`], { prompt: '' }), 32);
    assert.ok(Math.abs(r.score - cos(q, d)) < 1e-4, `${r.text}: ${r.score} vs ${cos(q, d)}`);
  }
  enc.dispose();
  const served = await serveOnce(dir, 'school teacher');
  assert.deepEqual(served.map((r) => r.id), results.map((r) => r.id), 'serve embeds the query as search does');
  for (const [i, r] of served.entries()) assert.ok(Math.abs(r.score - results[i].score) < 1e-5);
});

test('recipe: model.prompts, default_prompt_name and training.prompts are checked (one line, exit 2)', () => {
  const base = { model: { base: 'builtin:tiny', prompts: PROMPTS }, data: { train: 'pairs.csv', score_scale: [0, 5] }, output: { dir: join(tmp, 'x') } };
  const parse = (over: Record<string, unknown>) => () => parseRecipe({ ...base, ...over }, { baseDir: FIX });
  assert.throws(parse({ model: { ...base.model, default_prompt_name: 'passage' } }), /model\.default_prompt_name: 'passage' is not a name in model\.prompts \(model\.prompts has query, document\)/);
  assert.throws(parse({ training: { prompts: ['query'] } }), /training\.prompts: 1 prompt\(s\) for 2 text column\(s\)/);
  assert.throws(parse({ training: { prompts: ['query', 'doc'] } }), /training\.prompts\[1\]: 'doc' is not a name in model\.prompts/);
  assert.throws(parse({ model: { base: 'builtin:tiny', prompts: { query: 3 } } }), /model\.prompts\.query: must be a non-empty string/);
  assert.throws(parse({ model: { base: 'builtin:tiny', prompts: ['query: '] } }), /model\.prompts: must be a mapping/);
  assert.throws(parse({ model: { base: 'builtin:tiny' }, training: { prompts: ['query', null] } }), /model\.prompts is empty/);
  const yaml = join(tmp, 'bad.yaml');
  writeFileSync(yaml, `model: { base: "builtin:tiny", prompts: { q: "q: " }, default_prompt_name: query }\ndata: { train: "${join(FIX, 'pairs.csv')}", score_scale: [0, 5] }\noutput: { dir: "${join(tmp, 'bad-run')}" }\n`);
  const r = runCli([yaml, '--backend', 'wasm']);
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /model\.default_prompt_name: 'query' is not a name in model\.prompts/);
});

test('training.prompts prefix each column in training and evaluation; the tuned model saves model.prompts', async () => {
  const out = join(tmp, 'run');
  const recipe = parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16, prompts: PROMPTS, default_prompt_name: 'query' },
      data: { train: 'pairs.csv', dev: 'pairs.csv', score_scale: [0, 5] },
      training: { batch_size: 4, epochs: 1, checkpoint_every: null, prompts: ['query', 'document'] },
      output: { dir: out },
    },
    { baseDir: FIX },
  );
  const data = { train: [{ texts: ['a', 'b'], label: 1 }], dev: [{ texts: ['c', 'd'], label: 0 }], test: null };
  const prefixed = withColumnPrompts(data, recipe);
  assert.deepEqual(prefixed.train[0].texts, ['query: a', 'passage: b']);
  assert.deepEqual(prefixed.dev![0].texts, ['query: c', 'passage: d']);
  assert.deepEqual(data.train[0].texts, ['a', 'b'], 'the loaded data is not changed');
  const res = await train(recipe, { log: () => {}, progress: false });
  assert.ok(res.losses.every(Number.isFinite));
  const cfg = JSON.parse(readFileSync(join(out, 'model', 'config_sentence_transformers.json'), 'utf8'));
  assert.deepEqual(cfg.prompts, PROMPTS);
  assert.equal(cfg.default_prompt_name, 'query');
});
