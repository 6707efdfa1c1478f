/** task: mlm: masking statistics, the loss against a hand computation, save / reload, a run end to end. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { maskTokens, wordStarts } from '../src/data/masking.js';
import { builtinEncoder } from '../src/models/builtin.js';
import { readSafetensors } from '../src/models/safetensors.js';
import { MlmHead } from '../src/models/mlm-head.js';
import { loadMaskedLm, maskedLmLoss, saveMaskedLm, type MaskedLm } from '../src/training/mlm.js';
import { ROOT, isOneLineUserError, runCli } from './helpers/cli.js';

const TEXTS = readFileSync(join(ROOT, 'datasets', 'quickstart', 'train.csv'), 'utf8')
  .split('\n')
  .slice(1)
  .filter(Boolean)
  .map((l) => l.split(',').slice(0, 2).join(' and '));

test('BERT masking: 15% of the real tokens, 80/10/10, never padding or special tokens, seeded', async () => {
  await initBackend('cpu');
  const enc = builtinEncoder('tiny');
  try {
    const batch = enc.tokenize(TEXTS.slice(0, 400));
    const v = enc.tokenizer.mlmVocabulary();
    const opts = (seed: string) => ({ probability: 0.15, wholeWord: false, maskId: v.maskId!, vocabSize: enc.config.vocabSize, specialIds: v.specialIds, startsWord: wordStarts(v.token, false), rng: seedrandom(seed) });
    const m = maskTokens(batch, opts('a'));
    let real = 0;
    for (let i = 0; i < batch.inputIds.length; i++) if (batch.attentionMask[i] === 1 && !v.specialIds.has(batch.inputIds[i])) real++;
    const rate = m.positions.length / real;
    assert.ok(Math.abs(rate - 0.15) < 0.01, `chose ${rate} of ${real} real tokens`);
    let masked = 0;
    let same = 0;
    m.positions.forEach((p, k) => {
      assert.equal(batch.attentionMask[p], 1, 'padding chosen');
      assert.ok(!v.specialIds.has(batch.inputIds[p]), 'special token chosen');
      assert.equal(m.labels[k], batch.inputIds[p]);
      if (m.inputIds[p] === v.maskId) masked++;
      else if (m.inputIds[p] === batch.inputIds[p]) same++;
    });
    const n = m.positions.length;
    assert.ok(Math.abs(masked / n - 0.8) < 0.03, `[MASK] ${masked / n}`);
    // Unchanged: the 10% kept plus random draws that hit the original id (1/261).
    assert.ok(Math.abs(same / n - 0.1) < 0.03, `unchanged ${same / n}`);
    for (let i = 0; i < batch.inputIds.length; i++) if (!m.positions.includes(i)) assert.equal(m.inputIds[i], batch.inputIds[i]);
    assert.deepEqual(maskTokens(batch, opts('a')), m, 'same seed, same masks');
    assert.notDeepEqual(maskTokens(batch, opts('b')).positions, m.positions);
  } finally {
    enc.dispose();
  }
});

test('whole-word masking covers whole words, about 15% of each text', async () => {
  await initBackend('cpu');
  const enc = builtinEncoder('tiny');
  try {
    const texts = ['lead heavy goods vehicle driver and truck driver', 'kitchen assistant and pharmacist in a large hospital'];
    const batch = enc.tokenize(texts);
    const v = enc.tokenizer.mlmVocabulary();
    const starts = wordStarts(v.token, false);
    const m = maskTokens(batch, { probability: 0.15, wholeWord: true, maskId: v.maskId!, vocabSize: enc.config.vocabSize, specialIds: v.specialIds, startsWord: starts, rng: seedrandom('w') });
    const T = batch.seqLen;
    const chosen = new Set(m.positions);
    for (let b = 0; b < texts.length; b++) {
      // Words of the row: real tokens, a new word at each start token.
      const words: number[][] = [];
      let real = 0;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        if (batch.attentionMask[i] !== 1 || v.specialIds.has(batch.inputIds[i])) continue;
        real++;
        if (words.length === 0 || starts(batch.inputIds[i])) words.push([i]);
        else words[words.length - 1].push(i);
      }
      let covered = 0;
      for (const w of words) {
        const k = w.filter((i) => chosen.has(i)).length;
        assert.ok(k === 0 || k === w.length, `word ${w.join(',')} only partly chosen`);
        covered += k;
      }
      assert.ok(covered > 0 && covered <= Math.round(real * 0.15), `row ${b}: ${covered} of ${real}`);
    }
  } finally {
    enc.dispose();
  }
});

/** The loss by hand: head transform, GELU (erf), LayerNorm, tied projection, log-softmax, mean over masked positions. */
async function lossByHand(model: MaskedLm, hidden: Float32Array, positions: Int32Array, labels: Int32Array): Promise<number> {
  const H = model.encoder.config.hiddenSize;
  const V = model.encoder.config.vocabSize;
  const k = (await model.head.kernel.data()) as Float32Array;
  const b = (await model.head.denseBias.data()) as Float32Array;
  const g = (await model.head.normWeight.data()) as Float32Array;
  const beta = (await model.head.normBias.data()) as Float32Array;
  const bias = (await model.head.bias.data()) as Float32Array;
  const E = (await model.encoder.transformer.weights.get('embeddings.word_embeddings.weight')!.data()) as Float32Array;
  const erf = (x: number) => {
    // Abramowitz-Stegun 7.1.26 is too coarse; integrate instead (Simpson, 2000 panels).
    const n = 2000;
    const h = x / n;
    let s = 0;
    for (let i = 0; i <= n; i++) s += (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
    return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
  };
  let total = 0;
  positions.forEach((p, r) => {
    const x = hidden.subarray(p * H, (p + 1) * H);
    const y = new Array<number>(H).fill(0);
    for (let o = 0; o < H; o++) {
      let s = b[o];
      for (let i = 0; i < H; i++) s += x[i] * k[i * H + o];
      y[o] = 0.5 * s * (1 + erf(s / Math.SQRT2));
    }
    const mean = y.reduce((a, c) => a + c, 0) / H;
    const vr = y.reduce((a, c) => a + (c - mean) ** 2, 0) / H;
    const z = y.map((c, o) => ((c - mean) / Math.sqrt(vr + model.encoder.config.layerNormEps)) * g[o] + beta[o]);
    const logits = new Array<number>(V);
    for (let w = 0; w < V; w++) {
      let s = bias[w];
      for (let o = 0; o < H; o++) s += z[o] * E[w * H + o];
      logits[w] = s;
    }
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((a, c) => a + Math.exp(c - max), 0));
    total += lse - logits[labels[r]];
  });
  return total / positions.length;
}

test('the MLM loss equals a hand computation of the head and cross-entropy', async () => {
  await initBackend('cpu');
  const encoder = builtinEncoder({ hiddenSize: 8, numHeads: 2, numLayers: 1, intermediateSize: 16 }, 3);
  const head = MlmHead.fresh(encoder.config, 5, 0.5);
  // A head with non-trivial LayerNorm and bias, so every term matters.
  head.normWeight.assign(tf.add(head.normWeight, 0.3));
  head.bias.assign(tf.linspace(-1, 1, encoder.config.vocabSize));
  const model: MaskedLm = { encoder, head, headFrom: 'new' };
  try {
    const batch = encoder.tokenize(['a nurse', 'truck driver in town']);
    const positions = Int32Array.from([1, 3, batch.seqLen + 2]);
    const labels = Int32Array.from(positions, (p) => batch.inputIds[p]);
    const masked = { inputIds: batch.inputIds, positions, labels };
    const r = maskedLmLoss(model, batch, masked);
    const got = (await r.sum.data())[0] / r.count;
    r.sum.dispose();
    const hidden = encoder.tokenEmbeddings(batch);
    const want = await lossByHand(model, (await hidden.data()) as Float32Array, positions, labels);
    hidden.dispose();
    assert.ok(Math.abs(got - want) < 1e-5 * Math.max(1, Math.abs(want)), `${got} vs ${want}`);
    assert.ok(want > 1, 'a random head is far from the labels');
  } finally {
    head.dispose();
    encoder.dispose();
  }
});

test('a saved MLM folder has the HF names and reloads with identical logits', async () => {
  await initBackend('cpu');
  const dir = mkdtempSync(join(tmpdir(), 'mlm-save-'));
  const model = await loadMaskedLm('builtin:tiny', 9);
  try {
    assert.equal(model.headFrom, 'new');
    const batch = model.encoder.tokenize(['registered nurse', 'bank clerk']);
    const all = Int32Array.from({ length: batch.inputIds.length }, (_, i) => i);
    const masked = { inputIds: batch.inputIds, positions: all, labels: Int32Array.from(batch.inputIds) };
    const before = maskedLmLoss(model, batch, masked);
    await saveMaskedLm(model, join(dir, 'mlm'));
    const cfg = JSON.parse(readFileSync(join(dir, 'mlm', 'config.json'), 'utf8'));
    assert.deepEqual(cfg.architectures, ['BertForMaskedLM']);
    const names = [...readSafetensors(join(dir, 'mlm', 'model.safetensors')).keys()];
    for (const n of ['bert.embeddings.word_embeddings.weight', 'bert.encoder.layer.1.output.dense.weight', 'cls.predictions.transform.dense.weight', 'cls.predictions.transform.LayerNorm.bias', 'cls.predictions.bias', 'cls.predictions.decoder.weight']) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    const back = await loadMaskedLm(join(dir, 'mlm'));
    try {
      assert.equal(back.headFrom, 'checkpoint');
      const after = maskedLmLoss(back, batch, masked);
      assert.equal((await after.sum.data())[0], (await before.sum.data())[0]);
      after.sum.dispose();
      // Logits themselves, not only their loss.
      const words = (m: MaskedLm) => m.encoder.transformer.weights.get('embeddings.word_embeddings.weight')! as never;
      const h1 = tf.reshape(model.encoder.tokenEmbeddings(batch), [-1, model.encoder.config.hiddenSize]) as never;
      const h2 = tf.reshape(back.encoder.tokenEmbeddings(batch), [-1, back.encoder.config.hiddenSize]) as never;
      assert.deepEqual(await model.head.logits(h1, words(model)).data(), await back.head.logits(h2, words(back)).data());
    } finally {
      back.head.dispose();
      back.encoder.dispose();
    }
    before.sum.dispose();
  } finally {
    model.head.dispose();
    model.encoder.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an mlm run lowers held-out perplexity, and its folder is a model.base for fine-tuning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlm-run-'));
  try {
    writeFileSync(join(dir, 'texts.txt'), TEXTS.slice(0, 300).join('\n') + '\n');
    writeFileSync(
      join(dir, 'mlm.yaml'),
      `task: mlm
model:
  base: builtin:tiny
  max_seq_length: 32
data:
  train: texts.txt
  validation_split: 0.2
optimizer:
  lr: 0.002
training:
  epochs: 2
  max_steps: 12
  batch_size: 32
  log_every: 4
evaluation:
  every_steps: 6
  batch_size: 64
`,
    );
    const r = runCli([join(dir, 'mlm.yaml')], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /done: 12 steps; held-out perplexity [\d.]+ -> [\d.]+/);
    const evals = readFileSync(join(dir, 'runs', 'mlm', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'eval');
    assert.ok(evals.length >= 3, JSON.stringify(evals));
    assert.ok(evals.at(-1).perplexity < evals[0].perplexity, `perplexity ${evals[0].perplexity} -> ${evals.at(-1).perplexity}`);
    assert.ok(existsSync(join(dir, 'runs', 'mlm', 'report.html')));
    writeFileSync(
      join(dir, 'tune.yaml'),
      `model:
  base: runs/mlm/model
  max_seq_length: 32
data:
  train: ${join(ROOT, 'datasets', 'quickstart', 'train.csv')}
training:
  max_steps: 2
`,
    );
    const t = runCli([join(dir, 'tune.yaml')], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /done: 2 steps/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mlm recipe mistakes are one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlm-bad-'));
  try {
    writeFileSync(join(dir, 'texts.txt'), 'a\nb\n');
    const cases: Array<[string, RegExp]> = [
      ['mlm:\n  probability: 1.5\n', /mlm\.probability: must be > 0 and < 1, got 1\.5/],
      ['evaluation:\n  monitor: spearman_cosine\n', /evaluation\.monitor: task mlm reports perplexity/],
      ['mlm:\n  whole_words: true\n', /mlm\.whole_words: unknown key \(did you mean 'whole_word'\?\)/],
    ];
    for (const [extra, want] of cases) {
      writeFileSync(join(dir, 'bad.yaml'), `task: mlm\nmodel:\n  base: builtin:tiny\ndata:\n  train: texts.txt\n${extra}`);
      const r = runCli([join(dir, 'bad.yaml')], { cwd: dir });
      assert.ok(isOneLineUserError(r), `${extra}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
    writeFileSync(join(dir, 'ok.yaml'), 'task: mlm\nmodel:\n  base: builtin:tiny\ndata:\n  train: texts.txt\n');
    const r = runCli([join(dir, 'ok.yaml'), '--resume'], { cwd: dir });
    assert.ok(isOneLineUserError(r), r.stderr);
    assert.match(r.stderr, /--resume: task mlm writes no checkpoints/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
