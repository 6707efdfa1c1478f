/**
 * Loading a model folder safely: a relative folder is never mistaken for a hub id, weights
 * and embeddings are finite, numeric config fields are checked, and modules.json cannot lead
 * outside the model folder. Fixtures are small random folders (test/helpers/models.ts); no
 * test reaches the network (the one hub test talks to a server on 127.0.0.1).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder, loadEncoder, looksLikePath } from '../src/models/index.js';
import { readSafetensors, writeSafetensors } from '../src/models/safetensors.js';
import { parseRecipe } from '../src/recipe/index.js';
import { ModelError } from '../src/errors.js';
import { makeModelFolder } from './helpers/models.js';
import { isOneLineUserError, runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-models-safety-'));
/** A good folder (seed 1) that the other fixtures copy and then break. */
const GOOD = join(tmp, 'good');
const TEXTS = join(tmp, 'texts.txt');
/** Everything that talks to "the hub" goes to a closed loopback port: nothing leaves this machine. */
const OFFLINE = { HF_ENDPOINT: 'http://127.0.0.1:9' };

before(async () => {
  await initBackend('cpu', { quiet: true });
  makeModelFolder(GOOD, { dense: { out: 8, activation: 'torch.nn.modules.linear.Identity' } });
  writeFileSync(TEXTS, 'software developer\nnurse\n');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A copy of GOOD to break. */
function copy(name: string): string {
  const d = join(tmp, name);
  cpSync(GOOD, d, { recursive: true });
  return d;
}

function editJson(file: string, edit: (v: Record<string, unknown>) => void): void {
  const v = JSON.parse(readFileSync(file, 'utf8'));
  edit(v);
  writeFileSync(file, JSON.stringify(v));
}

/** Overwrite some values of one tensor in a weight file. */
function poke(file: string, name: string, values: Record<number, number>): void {
  const t = readSafetensors(file);
  const data = t.get(name)!.data;
  for (const [i, v] of Object.entries(values)) data[Number(i)] = v;
  writeSafetensors(file, t);
}

async function rejectsWith(spec: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadEncoder(spec), (e: unknown) => {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

async function withCwd<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const was = process.cwd();
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(was);
  }
}

// ---- 1. relative model folders ------------------------------------------------------------

test('a spec written as a path is told apart from an owner/name hub id', () => {
  for (const p of ['./good', '../good', '.', '..', '/abs/model', '~', '~/models/x', 'two/good/model', 'two/good/']) assert.ok(looksLikePath(p), p);
  for (const h of ['sentence-transformers/all-MiniLM-L6-v2', 'two/good', 'bert-base-uncased']) assert.ok(!looksLikePath(h), h);
});

test('encode --model with a relative folder (two/good, ./good) loads the folder, not the hub', () => {
  mkdirSync(join(tmp, 'rel', 'two'), { recursive: true });
  cpSync(GOOD, join(tmp, 'rel', 'two', 'good'), { recursive: true });
  cpSync(GOOD, join(tmp, 'rel', 'good'), { recursive: true });
  for (const spec of ['two/good', './good', './two/good']) {
    const out = join(tmp, 'rel', `${spec.replace(/\W/g, '_')}.jsonl`);
    const r = runCli(['encode', '--model', spec, '--input', TEXTS, '--output', out], { cwd: join(tmp, 'rel'), env: OFFLINE });
    assert.equal(r.code, 0, `${spec}: ${r.stderr}`);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 2);
  }
});

test('an existing relative folder wins over a cached hub model of the same name', async () => {
  const cwd = join(tmp, 'wins');
  makeModelFolder(join(cwd, 'two', 'good'), { seed: 1 });
  const cache = join(tmp, 'wins-cache');
  makeModelFolder(join(cache, 'models--two--good'), { seed: 2 });
  writeFileSync(join(cache, 'models--two--good', '.complete'), 'test');
  const savedCache = process.env.SBERT_TRAIN_CACHE;
  process.env.SBERT_TRAIN_CACHE = cache;
  try {
    const local = await loadEncoder(join(cwd, 'two', 'good'));
    const hub = await withCwd(tmp, () => loadEncoder('two/good'));
    const rel = await withCwd(cwd, () => loadEncoder('two/good'));
    assert.notEqual(await hub.weightsHash(), await local.weightsHash(), 'the fixture differs from the cached one');
    assert.equal(await rel.weightsHash(), await local.weightsHash());
    [local, hub, rel].forEach((e) => e.dispose());
  } finally {
    if (savedCache === undefined) delete process.env.SBERT_TRAIN_CACHE;
    else process.env.SBERT_TRAIN_CACHE = savedCache;
  }
});

test('a missing folder written as a path says "model folder not found" and never asks the hub', async () => {
  await withCwd(tmp, async () => {
    for (const spec of ['./nope', '../nope-sbert', 'a/b/c', '~/nope-sbert-train-test', join(tmp, 'nope')]) {
      await rejectsWith(spec, new RegExp(`^model folder not found: ${spec.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
    }
  });
  const r = runCli(['encode', '--model', './nope', '--input', TEXTS, '--output', join(tmp, 'nope.jsonl')], { cwd: tmp, env: OFFLINE });
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /sbert-train: model folder not found: \.\/nope\n/);
});

test("a recipe's model.base: an existing folder or a path resolves against the recipe's folder, ~ against home", () => {
  const recipeDir = join(tmp, 'recipe');
  mkdirSync(join(recipeDir, 'two'), { recursive: true });
  cpSync(GOOD, join(recipeDir, 'two', 'good'), { recursive: true });
  writeFileSync(join(recipeDir, 'pairs.csv'), 'sentence1,sentence2,score\na,b,1\n');
  const base = (b: string) => parseRecipe({ model: { base: b }, data: { train: 'pairs.csv' } }, { baseDir: recipeDir, fileName: 'r.yaml' }).model.base;
  assert.equal(base('two/good'), join(recipeDir, 'two', 'good'));
  assert.equal(base('./two/good'), join(recipeDir, 'two', 'good'));
  assert.equal(base('~'), homedir());
  assert.equal(base('org/model'), 'org/model');
  assert.equal(base('builtin:tiny'), 'builtin:tiny');
  // A path that does not exist is reported by the recipe check, not sent to the hub.
  assert.throws(() => base('two/missing/model'), new RegExp(`model\\.base: folder not found: ${join(recipeDir, 'two', 'missing', 'model').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
});

// ---- 2. NaN / Infinity ------------------------------------------------------------------------

test('a NaN or Infinity weight is refused at load, naming the file and the tensor', async () => {
  let d = copy('nan-weight');
  poke(join(d, 'model.safetensors'), 'encoder.layer.0.attention.self.query.weight', { 5: NaN });
  await rejectsWith(d, /\/nan-weight\/model\.safetensors: tensor 'encoder\.layer\.0\.attention\.self\.query\.weight' holds NaN at element 5 of 256$/);

  d = copy('inf-dense');
  poke(join(d, '2_Dense', 'model.safetensors'), 'linear.bias', { 3: -Infinity });
  await rejectsWith(d, /\/inf-dense\/2_Dense\/model\.safetensors: tensor 'linear\.bias' holds -Infinity at element 3 of 8$/);

  const r = runCli(['encode', '--model', join(tmp, 'nan-weight'), '--input', TEXTS, '--output', join(tmp, 'nan.jsonl')], { env: OFFLINE });
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /holds NaN/);
  assert.ok(!existsSync(join(tmp, 'nan.jsonl')));
});

/**
 * Finite weights whose output overflows float32: the last LayerNorm's bias of 10 makes every
 * token value positive (about 10 +- 3), and Dense weights of 3e38 multiply their sum (~160).
 */
function overflowModel(): string {
  const d = join(tmp, 'overflow');
  if (existsSync(d)) return d;
  cpSync(GOOD, d, { recursive: true });
  const t = readSafetensors(join(d, 'model.safetensors'));
  t.get('encoder.layer.1.output.LayerNorm.bias')!.data.fill(10);
  writeSafetensors(join(d, 'model.safetensors'), t);
  const dense = readSafetensors(join(d, '2_Dense', 'model.safetensors'));
  dense.get('linear.weight')!.data.fill(3e38);
  writeSafetensors(join(d, '2_Dense', 'model.safetensors'), dense);
  return d;
}

test('encode() refuses a non-finite embedding and names the text by its index', async () => {
  const enc = builtinEncoder('tiny', 1);
  const forward = enc.forward.bind(enc);
  // NaN for every text of 2 characters ([CLS] b b [SEP]: 4 tokens), the others untouched.
  enc.forward = (batch) =>
    tf.tidy(() => {
      const rows = Array.from({ length: batch.batchSize }, (_, b) => batch.attentionMask.slice(b * batch.seqLen, (b + 1) * batch.seqLen).reduce((a, x) => a + x, 0));
      const bad = tf.tensor2d(rows.map((n) => [n === 4 ? NaN : 0]));
      return tf.add(forward(batch), bad) as tf.Tensor2D;
    });
  assert.equal((await enc.encode(['a', 'ccc'])).length, 2);
  await assert.rejects(enc.encode(['a', 'ccc', 'bb', 'dddd']), (e: unknown) => {
    assert.ok(e instanceof ModelError, String(e));
    assert.match(e.message, /^builtin:tiny: the embedding of the text at index 2 \("bb"\) holds NaN/);
    return true;
  });
  enc.dispose();

  const real = await loadEncoder(overflowModel());
  await assert.rejects(real.encode(['nurse']), /the embedding of the text at index 0 \("nurse"\) holds Infinity/);
  real.dispose();
});

test('encode and index build stop with one line instead of writing NaN', () => {
  const model = overflowModel();
  const out = join(tmp, 'overflow.jsonl');
  const r = runCli(['encode', '--model', model, '--input', TEXTS, '--output', out], { env: OFFLINE });
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /the embedding of the text at index \d \(".*"\) holds Infinity/);
  assert.ok(!existsSync(out));

  const corpus = join(tmp, 'corpus.csv');
  writeFileSync(corpus, 'id,text\n1,software developer\n2,nurse\n');
  const idx = join(tmp, 'overflow-index');
  const b = runCli(['index', 'build', '--model', model, '--input', corpus, '--text-column', 'text', '--id-column', 'id', '--out', idx], { env: OFFLINE });
  assert.ok(isOneLineUserError(b), b.stderr);
  // index build normalises, and Infinity / Infinity is NaN.
  assert.match(b.stderr, /the embedding of the text at index \d \(".*"\) holds (NaN|Infinity)/);
  assert.ok(!existsSync(join(idx, 'manifest.json')));
});

// ---- 3. numeric config fields -----------------------------------------------------------------

test('max_seq_length must be a whole number from 1 to max_position_embeddings', async () => {
  for (const bad of [-5, 0, 1.5, 'x', 41]) {
    const d = copy(`msl-${String(bad)}`);
    editJson(join(d, 'sentence_bert_config.json'), (v) => (v.max_seq_length = bad));
    await rejectsWith(d, new RegExp(`sentence_bert_config\\.json: max_seq_length must be an integer from 1 to 40 \\(the model's max_position_embeddings\\), got ${JSON.stringify(bad).replace('.', '\\.')}$`));
  }
  const ok = copy('msl-40');
  editJson(join(ok, 'sentence_bert_config.json'), (v) => (v.max_seq_length = 40));
  const enc = await loadEncoder(ok);
  assert.equal(enc.maxSeqLength, 40);
  enc.dispose();

  const r = runCli(['encode', '--model', join(tmp, 'msl--5'), '--input', TEXTS, '--output', join(tmp, 'msl.jsonl')], { env: OFFLINE });
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /sentence_bert_config\.json: max_seq_length must be an integer/);
});

test('other numeric fields: do_lower_case, model_max_length, config.json sizes', async () => {
  let d = copy('lower-case');
  editJson(join(d, 'sentence_bert_config.json'), (v) => (v.do_lower_case = 'yes'));
  await rejectsWith(d, /sentence_bert_config\.json: do_lower_case must be true or false, got "yes"$/);

  d = copy('model-max-length');
  rmSync(join(d, 'sentence_bert_config.json'));
  editJson(join(d, 'tokenizer_config.json'), (v) => (v.model_max_length = -5));
  await rejectsWith(d, /tokenizer_config\.json: model_max_length must be an integer >= 1, got -5$/);
  // Tokenizers without a limit write transformers' VERY_LARGE_INTEGER: that is fine.
  editJson(join(d, 'tokenizer_config.json'), (v) => (v.model_max_length = 1e30));
  let enc = await loadEncoder(d);
  assert.equal(enc.maxSeqLength, 40);
  enc.dispose();
  // A sentence_bert_config.json without max_seq_length (sentence-transformers 5 writes them) uses model_max_length too.
  d = copy('no-max-seq-length');
  writeFileSync(join(d, 'sentence_bert_config.json'), '{}');
  editJson(join(d, 'tokenizer_config.json'), (v) => (v.model_max_length = 20));
  enc = await loadEncoder(d);
  assert.equal(enc.maxSeqLength, 20);
  enc.dispose();

  d = copy('hidden-size');
  editJson(join(d, 'config.json'), (v) => (v.num_hidden_layers = 1.5));
  await rejectsWith(d, /config\.json: num_hidden_layers must be an integer >= 1, got 1\.5$/);
  editJson(join(d, 'config.json'), (v) => {
    v.num_hidden_layers = 2;
    v.layer_norm_eps = -1;
  });
  await rejectsWith(d, /config\.json: layer_norm_eps must be a number >= 0, got -1$/);
});

test("1_Pooling's word_embedding_dimension must match the transformer's hidden size", async () => {
  const d = copy('pool-dim');
  editJson(join(d, '1_Pooling', 'config.json'), (v) => (v.word_embedding_dimension = 384));
  await rejectsWith(d, /1_Pooling\/config\.json: word_embedding_dimension 384 does not match the transformer's hidden size 16$/);
  editJson(join(d, '1_Pooling', 'config.json'), (v) => (v.word_embedding_dimension = -1));
  await rejectsWith(d, /1_Pooling\/config\.json: word_embedding_dimension must be an integer >= 1, got -1$/);
  // sentence-transformers 5 calls it embedding_dimension.
  writeFileSync(join(d, '1_Pooling', 'config.json'), JSON.stringify({ embedding_dimension: 48, pooling_mode: 'mean' }));
  await rejectsWith(d, /1_Pooling\/config\.json: embedding_dimension 48 does not match the transformer's hidden size 16$/);
});

test("2_Dense's in/out features must be whole, match the embedding it receives and the weights", async () => {
  // in_features 32 with matching [8, 32] weights, but pooling gives 16: loaded before, then tfjs failed at encode time.
  let d = copy('dense-in');
  editJson(join(d, '2_Dense', 'config.json'), (v) => (v.in_features = 32));
  writeSafetensors(join(d, '2_Dense', 'model.safetensors'), new Map([['linear.weight', { shape: [8, 32], data: new Float32Array(256) }], ['linear.bias', { shape: [8], data: new Float32Array(8) }]]));
  await rejectsWith(d, /2_Dense\/config\.json: in_features 32 does not match the 16-dimensional embedding that reaches this layer$/);

  d = copy('dense-out');
  editJson(join(d, '2_Dense', 'config.json'), (v) => (v.out_features = 4));
  await rejectsWith(d, /2_Dense\/model\.safetensors: tensor 'linear\.weight' has shape \[8,16\] but .*2_Dense\/config\.json says in_features 16, out_features 4$/);

  for (const bad of [-3, 0, '16', 2.5]) {
    d = copy(`dense-bad-${String(bad)}`);
    editJson(join(d, '2_Dense', 'config.json'), (v) => (v.in_features = bad));
    await rejectsWith(d, new RegExp(`2_Dense/config\\.json: in_features must be an integer >= 1, got ${JSON.stringify(bad).replace('.', '\\.')}$`));
  }
});

// ---- 4. modules.json paths --------------------------------------------------------------------

test('modules.json paths that leave the model folder are refused, naming the file and the entry', async () => {
  for (const [name, path] of [['dotdot', '../../etc'], ['abs', '/etc'], ['inner-dotdot', '1_Pooling/../../good']] as const) {
    const d = copy(`modules-${name}`);
    editJson(join(d, 'modules.json'), (v) => ((v as unknown as { path: string }[])[1].path = path));
    await rejectsWith(d, new RegExp(`/modules-${name}/modules\\.json: entry 1 \\(path '${path.replace(/[./]/g, '\\$&')}'\\) leaves the model folder`));
  }

  // A sub-folder that is a symlink to a folder outside (which holds a valid pooling config).
  const outside = join(tmp, 'outside-pooling');
  cpSync(join(GOOD, '1_Pooling'), outside, { recursive: true });
  let d = copy('modules-symlink');
  rmSync(join(d, '1_Pooling'), { recursive: true });
  symlinkSync(outside, join(d, '1_Pooling'));
  await rejectsWith(d, /\/modules-symlink\/modules\.json: entry 1 \(path '1_Pooling'\) is a symlink that leaves the model folder/);

  // A symlink that stays inside is fine (and so are files that are symlinks, as in the Hugging Face cache).
  d = copy('modules-symlink-inside');
  cpSync(join(d, '1_Pooling'), join(d, 'pooling-real'), { recursive: true });
  rmSync(join(d, '1_Pooling'), { recursive: true });
  symlinkSync(join(d, 'pooling-real'), join(d, '1_Pooling'));
  const enc = await loadEncoder(d);
  assert.equal(enc.dim, 8);
  enc.dispose();
});

test('a hub download whose modules.json leaves the cache folder writes nothing', async () => {
  const served = new Map<string, Buffer>();
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) served.set(f, readFileSync(join(GOOD, f)));
  served.set('modules.json', Buffer.from(JSON.stringify([{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }, { idx: 1, name: '1', path: '../../../escaped', type: 'sentence_transformers.models.Pooling' }])));
  const requested: string[] = [];
  const server = createServer((req, res) => {
    const file = decodeURIComponent(req.url ?? '').replace(/^\/org\/evil\/resolve\/main\//, '');
    requested.push(file);
    const body = served.get(file);
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const saved = { endpoint: process.env.HF_ENDPOINT, cache: process.env.SBERT_TRAIN_CACHE };
  const cache = join(tmp, 'evil-cache', 'a', 'b');
  process.env.HF_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.SBERT_TRAIN_CACHE = cache;
  try {
    await rejectsWith('org/evil', /^org\/evil\/modules\.json: entry 1 \(path '\.\.\/\.\.\/\.\.\/escaped'\) leaves the model folder/);
    assert.ok(!requested.some((f) => f.includes('escaped')), `requested ${requested.join(', ')}`);
    assert.deepEqual(readdirSync(join(cache, 'models--org--evil')), []);
    assert.ok(!existsSync(join(tmp, 'evil-cache', 'escaped')));
  } finally {
    server.close();
    for (const [k, v] of [['HF_ENDPOINT', saved.endpoint], ['SBERT_TRAIN_CACHE', saved.cache]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
