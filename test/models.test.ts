import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder, builtinEncoder } from '../src/models/index.js';
import { pool } from '../src/models/pooling.js';
import { relativePositionBucket } from '../src/models/transformer.js';
import { readSafetensors, writeSafetensors } from '../src/models/safetensors.js';
import { ModelError } from '../src/errors.js';
import { makeModelFolder, hfConfig, type TestArch } from './helpers/models.js';
import { SHARED } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-models-'));
before(async () => {
  await initBackend('cpu', { quiet: true });
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('builtin:tiny is deterministic from its seed and embeds into its dimension', async () => {
  const a = builtinEncoder('tiny', 7);
  const b = builtinEncoder('tiny', 7);
  const c = builtinEncoder('tiny', 8);
  const [ea] = await a.encode(['software engineer']);
  const [eb] = await b.encode(['software engineer']);
  const [ec] = await c.encode(['software engineer']);
  assert.equal(ea.length, a.dim);
  assert.equal(maxAbsDiff(ea, eb), 0);
  assert.ok(maxAbsDiff(ea, ec) > 1e-3);
  assert.equal(await a.weightsHash(), await b.weightsHash());
  assert.notEqual(await a.weightsHash(), await c.weightsHash());
  [a, b, c].forEach((e) => e.dispose());
});

for (const backend of ['cpu', 'onnx']) {
  test(`an embedding does not depend on the other texts in its batch (padding is masked), ${backend}`, async () => {
    await initBackend(backend, { quiet: true });
    try {
      const enc = builtinEncoder('tiny', 3);
      const texts = ['a', 'registered nurse in intensive care', '', 'データサイエンティスト', 'x'.repeat(300)];
      const together = await enc.encode(texts, { batchSize: 8 });
      for (let i = 0; i < texts.length; i++) {
        const [alone] = await enc.encode([texts[i]]);
        assert.ok(maxAbsDiff(alone, together[i]) < 1e-5, `text ${i}`);
      }
      enc.dispose();
    } finally {
      await initBackend('cpu', { quiet: true });
    }
  });
}

test('encode and forward leak no tensors', async () => {
  const enc = builtinEncoder('tiny', 3);
  await enc.encode(['warm up']);
  const n0 = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) await enc.encode(['one', 'two words', 'three words here'], { batchSize: 2, normalize: true });
  const batch = enc.tokenize(['gradient check']);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(enc.forward(batch))) as tf.Scalar, enc.trainableVariables());
  value.dispose();
  tf.dispose(grads);
  assert.equal(tf.memory().numTensors, n0);
  enc.dispose();
});

test('truncation keeps the closing special token, like Python tokenizers', () => {
  const enc = builtinEncoder('tiny', 1);
  const b = enc.tokenize(['y'.repeat(500), 'short']);
  assert.equal(b.seqLen, enc.maxSeqLength);
  assert.equal(b.inputIds[0], 1); // [CLS]
  assert.equal(b.inputIds[enc.maxSeqLength - 1], 2); // [SEP] kept at the end
  // the short row: [CLS] s h o r t [SEP] then padding with mask 0
  assert.equal(b.inputIds[b.seqLen + 6], 2);
  assert.equal(b.attentionMask[b.seqLen + 7], 0);
  enc.dispose();
});

test('bert-base-uncased tokenizer ids follow its vocab.txt', async (t) => {
  if (!SHARED) return t.skip('../shared absent: no bert-base-uncased tokenizer');
  const dir = join(SHARED, 'tokenizers', 'bert-base-uncased');
  const vocab = readFileSync(join(dir, 'vocab.txt'), 'utf8').split('\n');
  const id = (w: string) => vocab.indexOf(w);
  const { Tokenizer } = await import('../src/models/tokenizer.js');
  const tok = await Tokenizer.fromFolder(dir);
  assert.deepEqual(tok.ids('Hello, World!', 16).ids, [id('[CLS]'), id('hello'), id(','), id('world'), id('!'), id('[SEP]')]);
  // accents are stripped by the uncased normaliser; CJK characters are split one per token
  assert.deepEqual(tok.ids('Café 日本', 16).ids, [id('[CLS]'), id('cafe'), id('日'), id('本'), id('[SEP]')]);
  assert.deepEqual(tok.ids('', 16).ids, [id('[CLS]'), id('[SEP]')]);
  const long = tok.ids('word '.repeat(200), 128).ids;
  assert.equal(long.length, 128);
  assert.equal(long[127], id('[SEP]'));
});

test('pooling modes match hand-computed values', () => {
  // one sentence, 3 tokens (the last is padding), hidden 2
  const tokens = tf.tensor3d([[[1, 2], [3, -4], [100, 100]]]);
  const mask = tf.tensor2d([[1, 1, 0]], [1, 3], 'int32');
  const get = (m: Parameters<typeof pool>[2]) => Array.from(pool(tokens, mask, m).dataSync());
  assert.deepEqual(get(['cls']), [1, 2]);
  assert.deepEqual(get(['mean']), [2, -1]);
  assert.deepEqual(get(['max']), [3, 2]);
  assert.ok(maxAbsDiff(get(['mean_sqrt_len']), [4 / Math.SQRT2, -2 / Math.SQRT2]) < 1e-6);
  // weights 1, 2 for the two real tokens: (1*1 + 2*3)/3, (1*2 + 2*-4)/3
  assert.ok(maxAbsDiff(get(['weightedmean']), [7 / 3, -2]) < 1e-6);
  assert.deepEqual(get(['lasttoken']), [3, -4]);
  assert.deepEqual(get(['cls', 'mean']), [1, 2, 2, -1]);
  tf.dispose([tokens, mask]);
});

test("MPNet relative position buckets match the formula worked by hand", () => {
  assert.equal(relativePositionBucket(0), 0);
  assert.equal(relativePositionBucket(-1), 1); // key before query: n = 1
  assert.equal(relativePositionBucket(1), 17); // key after query: other half
  assert.equal(relativePositionBucket(-8), 8); // log(8/8) = 0
  assert.equal(relativePositionBucket(-20), 10); // 8 + floor(log(2.5)/log(16)*8) = 8 + 2
  assert.equal(relativePositionBucket(-200), 15); // capped at 16 - 1
  assert.equal(relativePositionBucket(200), 31);
});

for (const arch of ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'] as TestArch[]) {
  test(`${arch}: a saved folder reloads with identical weights, layout and embeddings`, async () => {
    const src = join(tmp, `${arch}-src`);
    const written = makeModelFolder(src, { arch, pooling: { pooling_mode_cls_token: true }, dense: { out: 8, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true });
    const enc = await loadEncoder(src);
    assert.equal(enc.dim, 8);
    const texts = ['hello world', '', 'Ünïcödé ✓', 'z'.repeat(100)];
    const e1 = await enc.encode(texts);
    for (const e of e1) assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-5, 'Normalize module applied');
    const out = join(tmp, `${arch}-saved`);
    await enc.save(out);
    const saved = readSafetensors(join(out, 'model.safetensors'));
    for (const [name, w] of written) {
      const s = saved.get(name);
      assert.ok(s, `saved ${name}`);
      assert.deepEqual(s.shape, w.shape);
      assert.equal(maxAbsDiff(s.data, w.data), 0, name);
    }
    const modules = JSON.parse(readFileSync(join(out, 'modules.json'), 'utf8')).map((m: { type: string }) => m.type.split('.').pop());
    assert.deepEqual(modules, ['Transformer', 'Pooling', 'Dense', 'Normalize']);
    const pc = JSON.parse(readFileSync(join(out, '1_Pooling', 'config.json'), 'utf8'));
    assert.equal(pc.pooling_mode_cls_token, true);
    assert.equal(pc.pooling_mode_mean_tokens, true);
    const again = await loadEncoder(out);
    const e2 = await again.encode(texts);
    for (let i = 0; i < texts.length; i++) assert.equal(maxAbsDiff(e1[i], e2[i]), 0);
    assert.equal(await again.weightsHash(), await enc.weightsHash());
    enc.dispose();
    again.dispose();
  });
}

test('RoBERTa-style models count positions from padding_idx + 1', async () => {
  const dir = join(tmp, 'roberta-pos');
  makeModelFolder(dir, { arch: 'roberta' });
  const enc = await loadEncoder(dir);
  const ids = enc.transformer.positionIds({ inputIds: Int32Array.from([5, 6, 7, 0, 0]), attentionMask: new Int32Array(5), tokenTypeIds: new Int32Array(5), batchSize: 1, seqLen: 5 });
  assert.deepEqual(Array.from(ids), [1, 2, 3, 0, 0]); // pad id 0: positions pad+1.. and pad for padding
  enc.dispose();
});

test('freezing removes embeddings and the lowest layers from the trainable variables', () => {
  const enc = builtinEncoder('tiny', 1);
  const all = enc.trainableVariables().length;
  enc.freeze({ embeddings: true, layers: 1 });
  const named = enc.namedWeights();
  const frozenNames = [...named.keys()].filter((n) => n.startsWith('embeddings.') || n.startsWith('encoder.layer.0.'));
  assert.equal(enc.trainableVariables().length, all - frozenNames.length);
  const trainable = new Set(enc.trainableVariables());
  for (const n of frozenNames) assert.ok(!trainable.has(named.get(n)!), n);
  enc.freeze({});
  assert.equal(enc.trainableVariables().length, all);
  enc.dispose();
});

test('bad model folders give one-line ModelErrors naming the file', async () => {
  const expectError = async (dir: string, pattern: RegExp) => {
    await assert.rejects(loadEncoder(dir), (e: unknown) => {
      assert.ok(e instanceof ModelError, String(e));
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  };
  const base = (name: string) => {
    const d = join(tmp, name);
    makeModelFolder(d);
    return d;
  };
  let d = base('no-weights');
  rmSync(join(d, 'model.safetensors'));
  await expectError(d, /model\.safetensors: missing weight file/);

  d = base('missing-tensor');
  const w = readSafetensors(join(d, 'model.safetensors'));
  w.delete('encoder.layer.1.output.dense.weight');
  writeSafetensors(join(d, 'model.safetensors'), w);
  await expectError(d, /model\.safetensors: missing tensor 'encoder\.layer\.1\.output\.dense\.weight'/);

  d = base('wrong-shape');
  const w2 = readSafetensors(join(d, 'model.safetensors'));
  w2.set('embeddings.LayerNorm.weight', { shape: [17], data: new Float32Array(17), dtype: 'F32' });
  writeSafetensors(join(d, 'model.safetensors'), w2);
  await expectError(d, /model\.safetensors: tensor 'embeddings\.LayerNorm\.weight' has shape \[17\], expected \[16\]/);

  d = base('truncated');
  const bytes = readFileSync(join(d, 'model.safetensors'));
  writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
  await expectError(d, /model\.safetensors/);

  d = base('unknown-arch');
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...hfConfig('bert'), model_type: 'gpt2' }));
  await expectError(d, /config\.json: unknown architecture model_type 'gpt2'/);

  d = base('bad-modules');
  writeFileSync(join(d, 'modules.json'), '[{"idx":0,');
  await expectError(d, /modules\.json: invalid JSON/);

  await expectError(join(tmp, 'does-not-exist'), /^model folder not found: /);
  assert.ok(!existsSync(join(tmp, 'does-not-exist')));
});

test('a hub id that cannot be downloaded gives a clear offline error, and HF_HUB_OFFLINE uses only the cache', async () => {
  const saved = { endpoint: process.env.HF_ENDPOINT, cache: process.env.SBERT_TRAIN_CACHE, offline: process.env.HF_HUB_OFFLINE };
  // A closed loopback port stands in for "no internet": nothing leaves this machine.
  process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
  process.env.SBERT_TRAIN_CACHE = join(tmp, 'hub-cache');
  try {
    await assert.rejects(loadEncoder('sentence-transformers/all-MiniLM-L6-v2'), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.match(e.message, /^sentence-transformers\/all-MiniLM-L6-v2: cannot download from the Hugging Face hub \(offline\?/);
      return true;
    });
    process.env.HF_HUB_OFFLINE = '1';
    await assert.rejects(loadEncoder('org/model'), /not in the cache .* HF_HUB_OFFLINE=1/);
    // a completed cache entry is used without any download
    const cached = join(tmp, 'hub-cache', 'models--org--model');
    makeModelFolder(cached);
    writeFileSync(join(cached, '.complete'), 'test');
    const enc = await loadEncoder('org/model');
    assert.equal(enc.dim, 16);
    enc.dispose();
  } finally {
    for (const [k, v] of [['HF_ENDPOINT', saved.endpoint], ['SBERT_TRAIN_CACHE', saved.cache], ['HF_HUB_OFFLINE', saved.offline]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('encoder gradients through the fast ops equal plain tfjs gradients, on cpu and wasm', async () => {
  const { setFastPaths } = await import('../src/backend/ops.js');
  const dir = join(tmp, 'grad-mpnet');
  makeModelFolder(dir, { arch: 'mpnet' });
  try {
    for (const backend of ['cpu', 'wasm']) {
      await initBackend(backend, { quiet: true });
      await tf.setBackend(backend);
      for (const enc of [builtinEncoder({ hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 32 }, 5), await loadEncoder(dir)]) {
        const batch = enc.tokenize(['a short one', 'a somewhat longer sentence here', '']);
        const grads = (fast: boolean) => {
          setFastPaths(fast);
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(enc.forward(batch))) as tf.Scalar, enc.trainableVariables());
          const out = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync().slice()]));
          value.dispose();
          tf.dispose(grads);
          return out;
        };
        const fast = grads(true);
        const plain = grads(false);
        let worst = 0;
        for (const k of Object.keys(plain)) {
          const scale = Math.max(1e-3, ...Array.from(plain[k]).map(Math.abs));
          worst = Math.max(worst, maxAbsDiff(fast[k], plain[k]) / scale);
        }
        assert.ok(worst < 1e-4, `${backend} ${enc.config.architecture}: relative gradient difference ${worst}`);
        enc.dispose();
      }
    }
  } finally {
    setFastPaths(true);
    await tf.setBackend('cpu');
  }
});
