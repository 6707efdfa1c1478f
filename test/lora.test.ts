/**
 * LoRA (recipe model.lora, src/models/lora.ts, src/training/lora.ts): the merge and the adapter
 * gradients against independent computations (plain loops, tfjs autodiff); the saved files
 * against files PEFT 0.17.1 wrote itself (test/fixtures/peft, see SOURCE.md); r=8 training of
 * builtin:tiny on each backend of test/helpers/backends.ts (the tfjs path on wasm, the onnx
 * engine on onnx) moves only the adapters, with optimizer state for them alone; a saved adapter
 * loads back to the merged model's embeddings; recipe mistakes are one clear line.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, readToHost } from '../src/backend/index.js';
import { ConfigError, ModelError } from '../src/errors.js';
import { loadEncoder, parseConfig } from '../src/models/index.js';
import { adapterConfig, adapterTensorNames, loraGrads, mergeLora, selectModules } from '../src/models/lora.js';
import { readSafetensors, writeSafetensors, type TensorInput } from '../src/models/safetensors.js';
import { parseRecipe, type Recipe } from '../src/recipe/index.js';
import { latestCheckpoint, loadCheckpoint, train } from '../src/training/index.js';
import { isOneLineUserError, ROOT, runCli } from './helpers/cli.js';
import { agreeAcrossBackends, TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { values } from './helpers/values.js';

const FIX = join(ROOT, 'test', 'fixtures');
const PEFT = join(FIX, 'peft');
const tmp = mkdtempSync(join(tmpdir(), 'sbert-lora-'));
const quiet = { log: () => {}, progress: false };
const TEXTS = ['A man is playing a guitar.', 'Shares dropped sharply on Monday.', 'a cat', 'The quick brown fox jumps over the lazy dog.'];

before(async () => {
  await initBackend('wasm', { quiet: true });
});

/** W + s * B A in PyTorch layout [out, in], written as the textbook product: (B A)[o][i] = sum_k B[o][k] A[k][i]. */
function referenceMerge(w: Float32Array, a: Float32Array, b: Float32Array, nOut: number, nIn: number, r: number, s: number): Float64Array {
  const ba = new Float64Array(nOut * nIn);
  for (let k = 0; k < r; k++) for (let o = 0; o < nOut; o++) for (let i = 0; i < nIn; i++) ba[o * nIn + i] += b[o * r + k] * a[k * nIn + i];
  return ba.map((x, j) => w[j] + s * x);
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  assert.equal(x.length, y.length);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

function sameBits(x: Float32Array, y: Float32Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

/** builtin:tiny's transformer weights in PyTorch layout (the base every run here adapts), or as held (linear kernels [in, out]). */
async function tinyWeights(layout: 'torch' | 'held' = 'torch'): Promise<Map<string, Float32Array>> {
  const enc = await loadEncoder('builtin:tiny', { seed: 42 });
  const t = enc.transformer;
  const held = await readToHost(t.weights);
  const out = layout === 'held' ? held : new Map([...t.exportWeights(held)].map(([n, w]) => [n, w.data]));
  enc.dispose();
  return out;
}

test('mergeLora is W + (alpha/r) B A to 1e-6 in both layouts, bit-identical between them; a zero B leaves W exactly', () => {
  const m = { module: 'x', inFeatures: 24, outFeatures: 40 };
  const r = 8;
  const s = 16 / r;
  const w = values(40 * 24, 1);
  const a = values(r * 24, 2);
  const b = values(40 * r, 3);
  const torch = mergeLora(w, a, b, m, r, s, 'torch');
  assert.ok(maxAbsDiff(torch, referenceMerge(w, a, b, 40, 24, r, s)) < 1e-6);
  // The kernel layout [in, out] holds the transpose, with the same bits.
  const wt = new Float32Array(24 * 40);
  for (let o = 0; o < 40; o++) for (let i = 0; i < 24; i++) wt[i * 40 + o] = w[o * 24 + i];
  const kernel = mergeLora(wt, a, b, m, r, s, 'kernel');
  for (let o = 0; o < 40; o++) for (let i = 0; i < 24; i++) assert.equal(kernel[i * 40 + o], torch[o * 24 + i]);
  assert.ok(sameBits(mergeLora(w, a, new Float32Array(40 * r), m, r, s, 'torch'), w));
});

test('loraGrads equals tfjs autodiff of the loss through W^T + s A^T B^T (dA [r, in], dB [out, r])', () => {
  const nIn = 12;
  const nOut = 10;
  const r = 4;
  const s = 0.75;
  const m = { module: 'x', inFeatures: nIn, outFeatures: nOut };
  const k0 = tf.tensor2d(values(nIn * nOut, 4), [nIn, nOut]);
  const x = tf.tensor2d(values(5 * nIn, 5), [5, nIn]);
  const a0 = values(r * nIn, 6);
  const b0 = values(nOut * r, 7);
  const loss = (k: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(x, k as tf.Tensor2D))) as tf.Scalar;
  // Reference: differentiate through the merged kernel with respect to A and B directly.
  const [dA, dB] = tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(tf.add(k0, tf.mul(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true), s))))([tf.tensor2d(a0, [r, nIn]), tf.tensor2d(b0, [nOut, r])]);
  // Ours: the full kernel's gradient, then loraGrads.
  const merged = tf.tensor2d(mergeLora(k0.dataSync() as Float32Array, a0, b0, m, r, s, 'kernel'), [nIn, nOut]);
  const g = tf.grad(loss)(merged);
  const ours = loraGrads(g.dataSync() as Float32Array, a0, b0, m, r, s);
  assert.ok(maxAbsDiff(ours.dA, dA.dataSync()) < 1e-5, 'dA');
  assert.ok(maxAbsDiff(ours.dB, dB.dataSync()) < 1e-5, 'dB');
  tf.dispose([k0, x, dA, dB, merged, g]);
});

test("adapter_config.json has the keys PEFT 0.17.1 wrote (test/fixtures/peft), sorted as PEFT sorts them, each value of PEFT's type", () => {
  const peft = JSON.parse(readFileSync(join(PEFT, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  const ours = adapterConfig({ r: 8, alpha: 32, dropout: 0, targets: ['value', 'query'], base: 'bert-base-uncased' });
  assert.deepEqual(Object.keys(ours), Object.keys(peft));
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v);
  for (const [k, v] of Object.entries(peft)) {
    // auto_mapping, task_type and modules_to_save are null or a value in PEFT's own files, depending on the model.
    if (v !== null && ours[k] !== null) assert.equal(kind(ours[k]), kind(v), k);
  }
  for (const k of ['peft_type', 'r', 'lora_alpha', 'target_modules', 'base_model_name_or_path', 'bias', 'fan_in_fan_out', 'use_dora', 'use_rslora', 'inference_mode']) assert.deepEqual(ours[k], peft[k], k);
  // PEFT writes json.dumps(indent=2, sort_keys=True); ours written the same way reads the same.
  assert.equal(JSON.stringify({ ...peft, task_type: ours.task_type, modules_to_save: null }, null, 2), JSON.stringify(ours, null, 2));
});

test("adapter tensor names and shapes are PEFT's: a 12-layer BERT with r 8 on query and value names the fixture's tensors (less its task model's bert. prefix)", () => {
  const header = JSON.parse(readFileSync(join(PEFT, 'adapter_model.header.json'), 'utf8')) as Record<string, { shape: number[] }>;
  const peft = new Map(
    Object.entries(header)
      .filter(([n]) => /\.lora_[AB]\.weight$/.test(n))
      .map(([n, v]) => [n.replace('base_model.model.bert.', 'base_model.model.'), v.shape]),
  );
  const cfg = parseConfig({ model_type: 'bert', vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512, type_vocab_size: 2 }, 'bert-base');
  const ours = new Map<string, number[]>();
  for (const m of selectModules(cfg, ['query', 'value'], 'test')) {
    const n = adapterTensorNames(m.module);
    ours.set(n.a, [8, m.inFeatures]);
    ours.set(n.b, [m.outFeatures, 8]);
  }
  assert.equal(ours.size, 48);
  assert.deepEqual([...ours.keys()].sort(), [...peft.keys()].sort());
  for (const [n, shape] of ours) assert.deepEqual(shape, peft.get(n), n);
});

test("a PEFT-shaped adapter folder (PEFT's config, bert.-prefixed names, a classifier head) loads as its base plus (alpha/r) B A", async () => {
  const dir = join(tmp, 'peft-shaped');
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(PEFT, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, base_model_name_or_path: 'builtin:tiny' }, null, 2));
  const H = 128;
  const tensors = new Map<string, TensorInput>();
  const modules = ['encoder.layer.0.attention.self.query', 'encoder.layer.1.attention.self.value'];
  modules.forEach((m, j) => {
    tensors.set(`base_model.model.bert.${m}.lora_A.weight`, { shape: [8, H], data: values(8 * H, 10 + j) });
    tensors.set(`base_model.model.bert.${m}.lora_B.weight`, { shape: [H, 8], data: values(H * 8, 20 + j) });
  });
  tensors.set('base_model.model.classifier.weight', { shape: [2, H], data: values(2 * H, 30) });
  tensors.set('base_model.model.classifier.bias', { shape: [2], data: values(2, 31) });
  writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });

  const enc = await loadEncoder(dir);
  const got = new Map([...enc.transformer.exportWeights(await readToHost(enc.transformer.weights))].map(([n, w]) => [n, w.data]));
  enc.dispose();
  const base = await tinyWeights();
  const s = (config.lora_alpha as number) / (config.r as number);
  for (const [name, w] of base) {
    const m = modules.find((x) => `${x}.weight` === name);
    if (!m) {
      assert.ok(sameBits(got.get(name)!, w), `${name} changed`);
      continue;
    }
    const a = tensors.get(`base_model.model.bert.${m}.lora_A.weight`)!.data;
    const b = tensors.get(`base_model.model.bert.${m}.lora_B.weight`)!.data;
    assert.ok(maxAbsDiff(got.get(name)!, referenceMerge(w, a, b, H, H, 8, s)) < 1e-6, name);
  }
});

test('the CLI encodes with an adapter folder; an adapter whose base does not load is one line naming adapter_config.json (exit 2)', () => {
  const dir = join(tmp, 'peft-shaped'); // written by the test above
  const input = join(tmp, 'texts.txt');
  writeFileSync(input, `${TEXTS.join('\n')}\n`);
  const ok = runCli(['encode', '--backend', 'wasm', '--model', dir, '--input', input, '--output', join(tmp, 'emb.jsonl')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(readFileSync(join(tmp, 'emb.jsonl'), 'utf8').trim().split('\n').length, TEXTS.length);

  const bad = join(tmp, 'bad-base');
  mkdirSync(bad);
  writeFileSync(join(bad, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, base_model_name_or_path: './no/such/base' }));
  const r = runCli(['encode', '--backend', 'wasm', '--model', bad, '--input', input, '--output', join(tmp, 'never.jsonl')]);
  assert.ok(isOneLineUserError(r), r.stderr);
  assert.match(r.stderr, /adapter_config\.json: its base model \(base_model_name_or_path\) does not load: model folder not found: \.\/no\/such\/base/);
});

function loraRecipe(over: { lora?: Record<string, unknown>; output?: Record<string, unknown>; training?: Record<string, unknown> } = {}): Recipe {
  return parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16, lora: { r: 8, alpha: 16, ...over.lora } },
      data: { train: 'pairs.csv', score_scale: [0, 5] },
      optimizer: { lr: 1e-2, weight_decay: 0.01 },
      training: { batch_size: 4, epochs: 3, seed: 42, checkpoint_every: null, ...over.training },
      output: { dir: mkdtempSync(join(tmp, 'run-')), ...over.output },
    },
    { baseDir: join(FIX, 'recipes') },
  );
}

for (const backend of TEST_BACKENDS) {
  test(`r=8 training moves only the adapters (every base weight bit-identical), optimizer state for the adapters alone; the saved adapter loads back to the merged model (${backend})`, async () => {
    const engine = await useBackend(backend);
    const recipe = loraRecipe();
    const tensorsBefore = tf.memory().numTensors;
    const res = await train(recipe, { ...quiet, ...engine });
    assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
    assert.equal(res.steps, 6);
    // Both engines train the same adapters (float rounding apart), and the loss goes down.
    agreeAcrossBackends('LoRA r=8 losses', backend, res.losses, 1e-4);
    assert.ok(res.losses[5] < res.losses[1], `losses ${res.losses.join(', ')}`);
    const base = await tinyWeights();

    // The final checkpoint holds every encoder weight and the adapters.
    const ck = loadCheckpoint(latestCheckpoint(join(recipe.output.dir, 'checkpoints'))!.dir);
    const st = ck.state as { weightsIndex: { name: string; shape: number[]; offset: number; size: number }[]; optimizerIndex: { name: string; size: number }[] };
    const held = new Map(st.weightsIndex.map((e) => [e.name, ck.weights.subarray(e.offset, e.offset + e.size)]));
    const targets = ['encoder.layer.0.attention.self.query', 'encoder.layer.0.attention.self.value', 'encoder.layer.1.attention.self.query', 'encoder.layer.1.attention.self.value'];
    const adapterNames = targets.flatMap((m) => [`${m}.lora_A.weight`, `${m}.lora_B.weight`]).sort();
    const adapterSize = 4 * (8 * 128 + 128 * 8);
    // Optimizer state: the adapters' moments only (2 x 8192 floats; full training would hold 2 x every weight).
    assert.deepEqual(st.optimizerIndex.map((e) => e.name).sort(), adapterNames);
    assert.equal(ck.optimizer!.length, 2 * adapterSize);
    // B started at zero and moved; the untargeted weights are the base's, bit for bit.
    for (const m of targets) assert.ok(held.get(`${m}.lora_B.weight`)!.some((x) => x !== 0), `${m} lora_B did not train`);
    let untargeted = 0;
    for (const [name, w] of await tinyWeights('held')) {
      if (targets.some((m) => `${m}.weight` === name)) continue;
      assert.ok(sameBits(held.get(name)!.slice(), w), `${name} moved`);
      untargeted++;
    }
    assert.equal(untargeted, base.size - 4);

    // The saved folder is the adapter alone, in PEFT's layout, on builtin:tiny.
    const dir = res.modelDir!;
    assert.ok(!existsSync(join(dir, 'model.safetensors')));
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.base_model_name_or_path, 'builtin:tiny');
    assert.deepEqual([cfg.r, cfg.lora_alpha, cfg.target_modules], [8, 16, ['query', 'value']]);
    assert.match(readFileSync(join(dir, 'README.md'), 'utf8'), /LoRA adapter:\*\* r 8, alpha 16, .*needs the base model `builtin:tiny`/);
    const saved = readSafetensors(join(dir, 'adapter_model.safetensors'));
    assert.deepEqual([...saved.keys()].sort(), adapterNames.map((n) => `base_model.model.${n}`).sort());
    for (const n of adapterNames) assert.ok(sameBits(saved.get(`base_model.model.${n}`)!.data, held.get(n)!.slice()), `${n} saved differs from the checkpoint`);

    // Loaded back: base + (alpha/r) B A, computed here from the saved tensors.
    const loaded = await loadEncoder(dir);
    const got = new Map([...loaded.transformer.exportWeights(await readToHost(loaded.transformer.weights))].map(([n, w]) => [n, w.data]));
    for (const m of targets) {
      const a = saved.get(`base_model.model.${m}.lora_A.weight`)!.data;
      const b = saved.get(`base_model.model.${m}.lora_B.weight`)!.data;
      assert.ok(maxAbsDiff(got.get(`${m}.weight`)!, referenceMerge(base.get(`${m}.weight`)!, a, b, 128, 128, 8, 16 / 8)) < 1e-6, m);
    }
    const fromAdapter = await loaded.encode(TEXTS);
    loaded.dispose();

    // The same run with output.merge_lora: a plain model folder, with the same embeddings.
    const mergedRecipe = loraRecipe({ output: { merge_lora: true } });
    const res2 = await train(mergedRecipe, { ...quiet, ...engine });
    assert.ok(existsSync(join(res2.modelDir!, 'model.safetensors')));
    assert.ok(!existsSync(join(res2.modelDir!, 'adapter_config.json')));
    const merged = await loadEncoder(res2.modelDir!);
    const fromMerged = await merged.encode(TEXTS);
    merged.dispose();
    fromMerged.forEach((e, i) => assert.ok(maxAbsDiff(e, fromAdapter[i]) < 1e-6, `embedding ${i}`));
    const mergedWeights = readSafetensors(join(res2.modelDir!, 'model.safetensors'));
    for (const [name, w] of base) if (!targets.some((m) => `${m}.weight` === name)) assert.ok(sameBits(mergedWeights.get(name)!.data, w), `${name} differs in the merged model`);
  });
}

for (const backend of TEST_BACKENDS) {
  test(`a LoRA run interrupted and resumed from its checkpoint ends bit-identical; mini-batches (GradCache) give the same adapters (${backend})`, async () => {
    const engine = await useBackend(backend);
    const adapters = async (recipe: Recipe) => readSafetensors(join(recipe.output.model_dir, 'adapter_model.safetensors'));
    const training = { max_steps: 4, checkpoint_every: 1, grad_accum_steps: 1, batch_size: 4 };
    const whole = loraRecipe({ training });
    const a = await train(whole, { ...quiet, ...engine });

    const cut = loraRecipe({ training });
    const stop = new AbortController();
    await assert.rejects(train(cut, { ...quiet, ...engine, signal: stop.signal, onStep: (s) => s.step === 2 && stop.abort() }), /interrupted at step 2/);
    const b = await train(cut, { ...quiet, ...engine, resume: true });
    assert.equal(b.weightsHash, a.weightsHash);
    const [ta, tb] = [await adapters(whole), await adapters(cut)];
    for (const [name, t] of ta) assert.ok(sameBits(t.data, tb.get(name)!.data), `${name} differs after resume`);

    const mini = loraRecipe({ training: { ...training, mini_batch_size: 2 } });
    await train(mini, { ...quiet, ...engine });
    const tm = await adapters(mini);
    for (const [name, t] of ta) assert.ok(maxAbsDiff(t.data, tm.get(name)!.data) < 1e-5, `${name}: mini-batches give other adapters`);
  });
}

test('recipe mistakes in model.lora are one clear line each', async () => {
  const problems = (over: Parameters<typeof loraRecipe>[0], extra: Record<string, unknown> = {}): string => {
    try {
      parseRecipe(
        {
          model: { base: 'builtin:tiny', lora: { r: 8, ...over?.lora }, ...extra },
          data: { train: 'pairs.csv', score_scale: [0, 5] },
          training: { seed: 42, ...over?.training },
          output: { dir: join(tmp, 'never'), ...over?.output },
        },
        { baseDir: join(FIX, 'recipes') },
      );
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
    return '';
  };
  assert.match(problems({ lora: { r: 0 } }), /model\.lora\.r: must be >= 1/);
  assert.match(problems({ lora: { target: ['query', 'foo'] } }), /model\.lora\.target\[1\]: .*foo/);
  assert.match(problems({ lora: { target: ['query', 'query'] } }), /model\.lora\.target\[1\]: "query" is listed twice/);
  assert.match(problems({ lora: { target: [] } }), /model\.lora\.target: must list at least 1/);
  assert.match(problems({ lora: { dropout: 0.1 } }), /model\.lora\.dropout: 0\.1 is not supported/);
  assert.match(problems({ training: { freeze: { layers: 1 } } }), /training\.freeze: with model\.lora/);
  assert.match(problems({ training: { seed: 7 } }), /output\.merge_lora: .*seed 42/);
  assert.equal(problems({ training: { seed: 7 }, output: { merge_lora: true } }), '');
  assert.match(problems({}, { dense: { out_features: 4 } }), /model\.dense: .*model\.lora/);
  // merge_lora without an adapter
  assert.throws(() => parseRecipe({ model: { base: 'builtin:tiny' }, data: { train: 'pairs.csv', score_scale: [0, 5] }, output: { dir: join(tmp, 'never'), merge_lora: true } }, { baseDir: join(FIX, 'recipes') }), /output\.merge_lora: there is no adapter/);
  // A target of another architecture is known once the model loads: one line naming this model's targets.
  await assert.rejects(
    train(loraRecipe({ lora: { target: ['q_lin'] } }), { ...quiet, skipSave: true }),
    (e: Error) => e instanceof ModelError && /model\.lora\.target: 'q_lin' names no linear layer of this bert model \(its targets: query, key, value, dense, attention\.output\.dense, intermediate\.dense, output\.dense\)/.test(e.message),
  );
});
