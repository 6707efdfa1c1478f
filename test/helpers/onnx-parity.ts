/**
 * The ONNX-vs-tfjs parity fixtures, one definition for every execution provider: the model
 * cases (every architecture with every pooling mode at once and with mean + Dense(tanh) +
 * Normalize, each pooling mode alone, every Dense activation, the transformer activations
 * other than exact GELU), the texts, and the comparison. test/onnx-parity.test.ts runs them on
 * onnxruntime's CPU provider, test/onnx-gpu-backends.test.ts on WebGPU.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CONFIG_KEYS, POOLING_MODES } from '../../src/models/pooling.js';
import type { SentenceEncoder } from '../../src/models/index.js';
import { encoderToOnnx } from '../../src/engine/onnx/encoder.js';
import { encodeModel } from '../../src/engine/onnx/proto.js';
import type { ExecutionProvider } from '../../src/engine/onnx/providers.js';
import { createSession, runEncoder } from '../../src/engine/onnx/runtime.js';
import { hfConfig, makeModelFolder, type FolderOptions, type TestArch } from './models.js';

export const PARITY_ARCHS: TestArch[] = ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'];
/** Lengths 2..32 tokens (the longest truncated), so every row but one is padded. */
export const PARITY_TEXTS = ['a somewhat longer sentence about nurses and engineers', '', 'x', 'Ünïcödé ✓ データ', 'z'.repeat(100), 'two words'];
export const PARITY_TOL = 1e-4;

const POOLING_KEYS: Record<string, string> = CONFIG_KEYS;

export interface ParityCase {
  label: string;
  folder: FolderOptions;
  /** config.json's hidden_act, when not the default exact GELU. */
  hiddenAct?: string;
}

/** An architecture with every pooling mode at once, and with mean + Dense(tanh) + Normalize. */
export function archCases(arch: TestArch): ParityCase[] {
  return [
    { label: `${arch} all pooling modes`, folder: { arch, seed: 3, pooling: Object.fromEntries(Object.values(POOLING_KEYS).map((k) => [k, true])) } },
    { label: `${arch} mean+Dense+Normalize`, folder: { arch, seed: 4, dense: { out: 8, activation: 'torch.nn.modules.activation.Tanh' }, normalize: true } },
  ];
}

/** Each pooling mode alone (MPNet), and every Dense activation (BERT, max pooling). */
export function moduleCases(): ParityCase[] {
  const cases: ParityCase[] = POOLING_MODES.map((mode) => ({
    label: `pooling ${mode}`,
    folder: { arch: 'mpnet', seed: 5, pooling: { pooling_mode_mean_tokens: mode === 'mean', [POOLING_KEYS[mode]]: true } },
  }));
  for (const act of ['Identity', 'ReLU', 'GELU', 'Sigmoid', 'SiLU']) {
    const path = `torch.nn.modules.${act === 'Identity' ? 'linear' : 'activation'}.${act}`;
    cases.push({ label: `Dense ${act}`, folder: { arch: 'bert', seed: 6, pooling: { pooling_mode_max_tokens: true }, dense: { out: 12, activation: path } } });
  }
  return cases;
}

/** BERT with the transformer activations other than exact GELU. */
export function activationCases(): ParityCase[] {
  return ['gelu_new', 'relu', 'silu'].map((act) => ({ label: `bert hidden_act ${act}`, folder: { arch: 'bert', seed: 8 }, hiddenAct: act }));
}

/** Write the case's model folder under `root`; returns its path. */
export function writeParityModel(root: string, c: ParityCase): string {
  const dir = join(root, c.label.replace(/\W+/g, '-'));
  makeModelFolder(dir, c.folder);
  if (c.hiddenAct) writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...hfConfig(c.folder.arch ?? 'bert'), hidden_act: c.hiddenAct }));
  return dir;
}

export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/**
 * Max abs differences between the tfjs encoder (the reference, on the current tfjs backend)
 * and its ONNX lowering on PARITY_TEXTS: the graph's two outputs in a session of its own on
 * `provider`, and the rows encode() gives on the active inference engine (batches of 4 and
 * 2, so one cached session serves two sequence lengths).
 */
export async function compareWithTfjs(enc: SentenceEncoder, provider: ExecutionProvider = 'cpu'): Promise<{ embedding: number; hidden: number; encode: number }> {
  const batch = enc.tokenize(PARITY_TEXTS);
  const [refEmb, refHidden] = tf.tidy(() => [enc.forward(batch), enc.tokenEmbeddings(batch)]);
  const ref = { emb: refEmb.dataSync().slice(), hidden: refHidden.dataSync().slice() };
  tf.dispose([refEmb, refHidden]);
  const { model, dim } = await encoderToOnnx(enc);
  assert.equal(dim, enc.dim);
  const session = await createSession(encodeModel(model), { threads: 1, provider });
  const out = await runEncoder(session, batch);
  await session.release();
  assert.equal(out.dim, enc.dim);
  const rows = await enc.encode(PARITY_TEXTS, { batchSize: 4 });
  const encode = Math.max(...rows.map((row, i) => maxAbsDiff(row, ref.emb.subarray(i * enc.dim, (i + 1) * enc.dim))));
  return { embedding: maxAbsDiff(out.sentenceEmbedding, ref.emb), hidden: maxAbsDiff(out.lastHiddenState, ref.hidden), encode };
}
