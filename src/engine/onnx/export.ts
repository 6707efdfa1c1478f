/**
 * Export a sentence encoder as a model folder that transformers.js
 * (`pipeline('feature-extraction', dir)`) and onnxruntime load as is, and that is still a
 * normal sentence-transformers folder:
 *
 *   onnx/model.onnx                 last_hidden_state + sentence_embedding (pooling, Dense,
 *                                   Normalize inside the graph)
 *   onnx/model_quantized.onnx       with --quantize int8 (transformers.js dtype 'q8')
 *   onnx/sbert_train_export.json    what was exported, and the marker --force looks for
 *   config.json, tokenizer files, modules.json, 1_Pooling/, 2_Dense/..., model.safetensors
 *
 * The folder is built beside the target and renamed into place at the end, so a failed or
 * interrupted export leaves no half-written folder. Before the rename the written graphs are
 * loaded by onnxruntime and checked against the tfjs encoder on a few probe texts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ModelError, UserError } from '../../errors.js';
import type { SentenceEncoder } from '../../models/sentence-encoder.js';
import { fsyncDir } from '../../util/fs.js';
import { encoderSpec, encoderToOnnx } from './encoder.js';
import { OPSET, encodeModel } from './proto.js';
import { quantizeDynamic } from './quantize.js';
import { createSession, runEncoder } from './runtime.js';

export const EXPORT_MARKER = join('onnx', 'sbert_train_export.json');
export const QUANTIZE_MODES = ['int8'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

export interface ExportOptions {
  quantize?: QuantizeMode;
  /** Replace `out` if it is a folder an earlier export wrote. */
  force?: boolean;
}

export interface ExportResult {
  dir: string;
  dim: number;
  inputs: string[];
  /** Bytes of onnx/model.onnx and, with quantize, onnx/model_quantized.onnx. */
  bytes: { model: number; quantized?: number };
  /** Max abs difference between onnxruntime on model.onnx and the tfjs encoder, on the probe texts. */
  maxAbsDiff: number;
  /** Lowest cosine between model_quantized.onnx's and the float embeddings, on the probe texts. */
  quantizedMinCosine?: number;
}

/** Texts of different lengths (one truncated) padded into one batch for the check. */
const PROBE_TEXTS = ['A man is playing a guitar.', '', 'Ünïcödé ✓ データ', 'registered nurse', 'word '.repeat(200)];

/** Refuse an `out` that holds anything but an earlier export (and that only with --force). */
export function checkTarget(out: string, force: boolean): void {
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new UserError(`${out}: exists and is not a folder`);
  if (readdirSync(out).length === 0) return;
  if (!force) throw new UserError(`${out}: exists and is not empty (--force replaces a folder that 'sbert-train export onnx' wrote)`);
  if (!existsSync(join(out, EXPORT_MARKER))) {
    throw new UserError(`${out}: --force replaces only a folder that 'sbert-train export onnx' wrote, and this one has no ${EXPORT_MARKER}`);
  }
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function minRowCosine(a: Float32Array, b: Float32Array, dim: number): number {
  let worst = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) {
      ab += a[j] * b[j];
      aa += a[j] * a[j];
      bb += b[j] * b[j];
    }
    worst = Math.min(worst, ab / Math.max(Math.sqrt(aa * bb), 1e-12));
  }
  return worst;
}

/** transformers.js truncates to the tokenizer's model_max_length: make it the encoder's max_seq_length. */
function alignTokenizerConfig(dir: string, maxSeqLength: number): void {
  const file = join(dir, 'tokenizer_config.json');
  const cfg = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  cfg.model_max_length = maxSeqLength;
  writeFileSync(file, JSON.stringify(cfg, null, 2) + '\n');
}

const README_ONNX = (dim: number, quantized: boolean) => `
## ONNX

\`onnx/model.onnx\` (opset ${OPSET}) takes \`input_ids\`, \`attention_mask\` (and \`token_type_ids\` where the
model has them), int64 \`[batch, sequence]\`, and returns \`last_hidden_state\` and
\`sentence_embedding\` \`[batch, ${dim}]\`: the full sentence-transformers pipeline (pooling, Dense,
Normalize) inside the graph.${quantized ? ' `onnx/model_quantized.onnx` is the same with 8-bit weights (dynamic quantization).' : ''}

\`\`\`js
import { pipeline, env } from '@huggingface/transformers';
env.localModelPath = '/path/to/parent'; env.allowRemoteModels = false;
const extractor = await pipeline('feature-extraction', 'this-folder-name');
const output = await extractor(['A sentence.'], { pooling: 'mean', normalize: true }); // as this model pools
\`\`\`
`;

/** Write the export folder for `encoder` at `out` (see the module doc). */
export async function exportOnnx(encoder: SentenceEncoder, out: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const target = resolve(out);
  checkTarget(target, opts.force ?? false);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tag = randomBytes(6).toString('hex');
  const tmp = join(parent, `.${basename(target)}.${tag}.tmp`);
  try {
    // The sentence-transformers folder first (weights, tokenizer, modules), then the graphs.
    await encoder.save(tmp);
    alignTokenizerConfig(tmp, encoder.maxSeqLength);
    const { model, dim, inputs } = await encoderToOnnx(encoder);
    const weightBytes = model.graph.initializers.reduce((n, t) => n + t.raw.length, 0);
    if (weightBytes >= 2 ** 31 - 2 ** 24) {
      // protobuf messages stop at 2 GiB; larger models need ONNX external data (not written yet)
      throw new ModelError(`${encoder.source}: ${(weightBytes / 2 ** 30).toFixed(1)} GiB of weights do not fit in one ONNX file (2 GiB limit; external data is not supported yet)`);
    }
    mkdirSync(join(tmp, 'onnx'));
    const modelBytes = encodeModel(model);
    writeFileSync(join(tmp, 'onnx', 'model.onnx'), modelBytes);
    let quantizedBytes: Uint8Array | undefined;
    let quantizeReport: ReturnType<typeof quantizeDynamic>['report'] | undefined;
    if (opts.quantize === 'int8') {
      const q = quantizeDynamic(model);
      quantizedBytes = encodeModel(q.model);
      quantizeReport = q.report;
      writeFileSync(join(tmp, 'onnx', 'model_quantized.onnx'), quantizedBytes);
    }

    // Check what was written against the tfjs encoder before it replaces anything.
    const batch = encoder.tokenize(PROBE_TEXTS);
    const refTensor = tf.tidy(() => encoder.forward(batch));
    const ref = (await refTensor.data()) as Float32Array;
    refTensor.dispose();
    const session = await createSession(join(tmp, 'onnx', 'model.onnx'));
    const got = await runEncoder(session, batch);
    await session.release();
    const result: ExportResult = { dir: target, dim, inputs, bytes: { model: modelBytes.length }, maxAbsDiff: maxAbs(got.sentenceEmbedding, ref) };
    if (!(result.maxAbsDiff <= 1e-3)) throw new Error(`internal: the exported graph differs from the tfjs encoder by ${result.maxAbsDiff}`);
    if (quantizedBytes) {
      const qs = await createSession(join(tmp, 'onnx', 'model_quantized.onnx'));
      const qgot = await runEncoder(qs, batch);
      await qs.release();
      result.bytes.quantized = quantizedBytes.length;
      result.quantizedMinCosine = minRowCosine(qgot.sentenceEmbedding, ref, dim);
    }

    const spec = encoderSpec(encoder);
    writeFileSync(
      join(tmp, EXPORT_MARKER),
      JSON.stringify(
        {
          producer: 'sbert-train export onnx',
          source: encoder.source,
          opset: OPSET,
          architecture: spec.config.architecture,
          pooling: spec.pooling,
          dense: spec.dense,
          normalize: spec.normalize,
          inputs,
          outputs: { last_hidden_state: ['batch_size', 'sequence_length', spec.config.hiddenSize], sentence_embedding: ['batch_size', dim] },
          max_seq_length: encoder.maxSeqLength,
          quantized: quantizeReport ? { file: 'onnx/model_quantized.onnx', scheme: 'dynamic: uint8 activations per tensor, uint8 weights per column', ...quantizeReport } : null,
          check: { texts: PROBE_TEXTS.length, max_abs_diff: result.maxAbsDiff, quantized_min_cosine: result.quantizedMinCosine ?? null },
        },
        null,
        2,
      ) + '\n',
    );
    writeFileSync(join(tmp, 'README.md'), readFileSync(join(tmp, 'README.md'), 'utf8') + README_ONNX(dim, quantizedBytes !== undefined));
    fsyncDir(join(tmp, 'onnx'));
    fsyncDir(tmp);
    swapIn(tmp, target, tag);
    return result;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Move `tmp` to `target`; a previous (empty, or checked) folder there is moved aside first, then removed. */
function swapIn(tmp: string, target: string, tag: string): void {
  const old = join(dirname(target), `.${basename(target)}.${tag}.old`);
  const hadOld = existsSync(target);
  if (hadOld) renameSync(target, old);
  try {
    renameSync(tmp, target);
  } catch (e) {
    if (hadOld) renameSync(old, target);
    throw e;
  }
  fsyncDir(dirname(target));
  if (hadOld) rmSync(old, { recursive: true, force: true });
}

