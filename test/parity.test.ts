/**
 * Parity with the Python reference stack (transformers + sentence-transformers): models built
 * and run in Python by benchmarks/peers/make_parity_fixtures.py, their recorded outputs
 * compared with what our tfjs encoders compute from the same folder, on the cpu and wasm
 * backends, and what encode() gives on the onnx backend. Also bert-base-uncased token ids (needs ../shared) and, when recorded by
 * benchmarks/peers/train_parity_reference.py, 16 training steps against PyTorch's AdamW.
 * With no fixtures present every test is skipped with the reason printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder, type SentenceEncoder, type TokenBatch } from '../src/models/index.js';
import { Tokenizer } from '../src/models/tokenizer.js';
import { createLoss } from '../src/losses/index.js';
import { AdamOptimizer } from '../src/training/optimizer.js';
import { ROOT, SHARED } from './helpers/cli.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'parity');
// onnx: forward() and tokenEmbeddings() on tfjs (wasm), encode() on onnxruntime.
const BACKENDS = ['cpu', 'wasm', 'onnx'] as const;
/** Max abs difference allowed between our float32 tfjs and PyTorch float32 outputs. */
const TOL = 1e-4;
const NO_FIXTURES = 'no parity fixtures: run benchmarks/peers/make_parity_fixtures.py on the Python reference stack (see benchmarks/peers/README.md)';

interface IdBatch {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
  last_hidden_state: number[][][];
  sentence_embedding: number[][];
}

interface ModelRecord {
  name: string;
  architecture: string;
  dim: number;
  max_seq_length: number;
  batches: IdBatch[];
  texts: string[];
  text_input_ids: number[][];
  text_embeddings: number[][];
}

const modelFixtures: { name: string; dir: string }[] = existsSync(FIXTURES)
  ? readdirSync(FIXTURES)
      .sort()
      .map((name) => ({ name, dir: join(FIXTURES, name) }))
      .filter((f) => statSync(f.dir).isDirectory() && existsSync(join(f.dir, 'parity.json')))
  : [];

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

function toBatch(ids: number[][], mask: number[][], types: number[][]): TokenBatch {
  const B = ids.length;
  const T = ids[0].length;
  return {
    inputIds: Int32Array.from(ids.flat()),
    attentionMask: Int32Array.from(mask.flat()),
    tokenTypeIds: Int32Array.from(types.flat()),
    batchSize: B,
    seqLen: T,
  };
}

/** Right-padded batch from unpadded id rows (token types 0: single sentences). */
function padBatch(rows: number[][], pad: number): TokenBatch {
  const T = Math.max(...rows.map((r) => r.length));
  return toBatch(
    rows.map((r) => [...r, ...new Array(T - r.length).fill(pad)]),
    rows.map((r) => [...new Array(r.length).fill(1), ...new Array(T - r.length).fill(0)]),
    rows.map(() => new Array(T).fill(0)),
  );
}

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, 'length');
  let m = 0;
  for (let i = 0; i < got.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  return m;
}

/** The ids of each row where the attention mask is 1. */
function unpad(batch: TokenBatch): number[][] {
  const rows: number[][] = [];
  for (let b = 0; b < batch.batchSize; b++) {
    const row: number[] = [];
    for (let t = 0; t < batch.seqLen; t++) if (batch.attentionMask[b * batch.seqLen + t]) row.push(batch.inputIds[b * batch.seqLen + t]);
    rows.push(row);
  }
  return rows;
}

if (modelFixtures.length === 0) {
  test('model parity with sentence-transformers', { skip: NO_FIXTURES }, () => {});
}

for (const backend of BACKENDS) {
  for (const fx of modelFixtures) {
    test(`${fx.name} (${backend}): same outputs as sentence-transformers`, async (t) => {
      await initBackend(backend, { quiet: true });
      const rec = readJson<ModelRecord>(join(fx.dir, 'parity.json'));
      const before = tf.memory().numTensors;
      const enc: SentenceEncoder = await loadEncoder(fx.dir);
      try {
        assert.equal(enc.dim, rec.dim, 'embedding dimension');
        assert.equal(enc.maxSeqLength, rec.max_seq_length, 'max_seq_length');

        await t.test('token ids given directly: last hidden state and sentence embedding', () => {
          rec.batches.forEach((b, i) => {
            const batch = toBatch(b.input_ids, b.attention_mask, b.token_type_ids);
            const H = b.last_hidden_state[0][0].length;
            const hidden = tf.tidy(() => enc.tokenEmbeddings(batch).dataSync() as Float32Array);
            // Padded positions carry no meaning (and differ with the mask constant): compare
            // every attended position.
            let worst = 0;
            for (let r = 0; r < batch.batchSize; r++) {
              for (let p = 0; p < batch.seqLen; p++) {
                if (!b.attention_mask[r][p]) continue;
                const off = (r * batch.seqLen + p) * H;
                worst = Math.max(worst, maxAbsDiff(hidden.subarray(off, off + H), b.last_hidden_state[r][p]));
              }
            }
            assert.ok(worst <= TOL, `batch ${i}: last hidden state differs by ${worst}`);
            const emb = tf.tidy(() => enc.forward(batch).dataSync() as Float32Array);
            const d = maxAbsDiff(emb, b.sentence_embedding.flat());
            assert.ok(d <= TOL, `batch ${i}: sentence embedding differs by ${d}`);
          });
        });

        await t.test('texts: token ids and SentenceTransformer.encode embeddings', async () => {
          const ids = unpad(enc.tokenize(rec.texts));
          rec.texts.forEach((text, i) => assert.deepEqual(ids[i], rec.text_input_ids[i], `token ids of ${JSON.stringify(text)}`));
          const rows = await enc.encode(rec.texts, { batchSize: rec.texts.length });
          rows.forEach((row, i) => {
            const d = maxAbsDiff(row, rec.text_embeddings[i]);
            assert.ok(d <= TOL, `embedding of ${JSON.stringify(rec.texts[i])} differs by ${d}`);
          });
        });
      } finally {
        enc.dispose();
      }
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
    });
  }
}

// ---- bert-base-uncased token ids ---------------------------------------------------------

interface TokenizerRecord {
  cases: { text: string; max_length: number; input_ids: number[]; token_type_ids: number[] }[];
}
const tokenizerFixture = join(FIXTURES, 'tokenizer-bert-base-uncased.json');
const tokenizerSkip = !existsSync(tokenizerFixture) ? NO_FIXTURES : !SHARED ? '../shared absent: no bert-base-uncased tokenizer' : false;

test('bert-base-uncased token ids equal transformers (truncation, accents, CJK, emoji, empty)', { skip: tokenizerSkip }, async () => {
  const rec = readJson<TokenizerRecord>(tokenizerFixture);
  const tok = await Tokenizer.fromFolder(join(SHARED!, 'tokenizers', 'bert-base-uncased'));
  for (const c of rec.cases) {
    const batch = tok.encode([c.text], c.max_length);
    assert.deepEqual(Array.from(batch.inputIds), c.input_ids, `ids of ${JSON.stringify(c.text.slice(0, 40))} (max ${c.max_length})`);
    assert.deepEqual(Array.from(batch.tokenTypeIds), c.token_type_ids, `token types of ${JSON.stringify(c.text.slice(0, 40))}`);
  }
});

// ---- training steps -----------------------------------------------------------------------

interface TrainRecord {
  model: string;
  hyperparameters: { lr: number; betas: [number, number]; eps: number; weight_decay: number; steps: number };
  batches: { input_ids_1: number[][]; input_ids_2: number[][]; labels: number[] }[];
  losses: number[];
  probe_input_ids: number[][];
  embeddings_before: number[][];
  embeddings_after: number[][];
}

const trainFixtures = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((f) => /^train-.*\.json$/.test(f)).sort() : [];
if (trainFixtures.length === 0) {
  test('training parity with PyTorch AdamW + CosineSimilarityLoss', { skip: 'no training fixtures: run benchmarks/peers/train_parity_reference.py (see benchmarks/peers/README.md)' }, () => {});
}

/**
 * Tolerances for training, as issue 3 states them: every per-step loss within 1e-3 relative
 * of PyTorch's, the embeddings after the 16 steps within 1e-3 (max abs). The first loss is a
 * plain forward pass and must also meet TOL.
 */
const TRAIN_LOSS_REL_TOL = 1e-3;
const TRAIN_EMB_TOL = 1e-3;

for (const file of trainFixtures) {
  test(`training parity ${file} (cpu): per-step losses and embeddings after training`, async () => {
    await initBackend('cpu', { quiet: true });
    const rec = readJson<TrainRecord>(join(FIXTURES, file));
    const dir = join(FIXTURES, rec.model);
    assert.ok(existsSync(dir), `${file} names model folder ${rec.model}, which is missing`);
    const before = tf.memory().numTensors;
    const enc = await loadEncoder(dir);
    const pad = enc.config.padTokenId;
    const loss = createLoss('cosine_mse');
    const hp = rec.hyperparameters;
    const opt = new AdamOptimizer({ decoupled: true, betas: hp.betas, eps: hp.eps, weightDecay: hp.weight_decay });
    try {
      const probes = padBatch(rec.probe_input_ids, pad);
      const emb0 = tf.tidy(() => enc.forward(probes).dataSync() as Float32Array);
      assert.ok(maxAbsDiff(emb0, rec.embeddings_before.flat()) <= TOL, 'probe embeddings before training');

      const vars = enc.trainableVariables();
      const params = new Map(vars.map((v) => [v.name, v]));
      const losses: number[] = [];
      for (const b of rec.batches) {
        const b1 = padBatch(b.input_ids_1, pad);
        const b2 = padBatch(b.input_ids_2, pad);
        const { value, grads } = tf.variableGrads(() => {
          const labels = tf.tensor1d(b.labels, 'float32');
          return loss.lossFromEmbeddings([enc.forward(b1), enc.forward(b2)], labels);
        }, vars);
        losses.push(value.dataSync()[0]);
        opt.apply(params, new Map(Object.entries(grads)), hp.lr);
        value.dispose();
        tf.dispose(grads);
      }
      assert.equal(losses.length, rec.losses.length);
      assert.ok(Math.abs(losses[0] - rec.losses[0]) <= TOL, `step 1 loss ${losses[0]} vs ${rec.losses[0]}`);
      losses.forEach((l, i) => assert.ok(Math.abs(l - rec.losses[i]) <= TRAIN_LOSS_REL_TOL * Math.abs(rec.losses[i]), `step ${i + 1} loss ${l} vs ${rec.losses[i]} (relative ${Math.abs(l - rec.losses[i]) / Math.abs(rec.losses[i])})`));
      const emb1 = tf.tidy(() => enc.forward(probes).dataSync() as Float32Array);
      const d = maxAbsDiff(emb1, rec.embeddings_after.flat());
      assert.ok(d <= TRAIN_EMB_TOL, `probe embeddings after training differ by ${d}`);
    } finally {
      opt.dispose();
      enc.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  });
}
