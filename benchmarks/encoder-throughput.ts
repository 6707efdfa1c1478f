/**
 * Encoder throughput: inference (encode) and training-step (forward + backward) speed of a
 * MiniLM-L6-shaped BERT (hidden 384, 6 layers, 12 heads, intermediate 1536, vocab 30522) on
 * synthetic token batches, per backend.
 *
 *   node --import tsx benchmarks/encoder-throughput.ts [--backend wasm|cpu|...]
 *        [--batch 32] [--seq 128] [--steps 3] [--naive] [--profile] [--write]
 *
 * FLOP count (multiply-add = 2 FLOP), per forward pass of B sentences of T tokens:
 *   matmuls of the layers: 2 * (B*T) * L * (4*H*H + 2*H*I)     (Q, K, V, O; FFN in and out)
 *   attention products:     L * 4 * B * T^2 * H                  (Q K^T and P V, all heads)
 *   training step (fwd+bwd) = 3 * forward (each product has two gradient products of its size).
 * Embedding lookups, LayerNorm, softmax, GELU are not counted (memory-bound, O(B*T*H)), so the
 * "effective GFLOP/s" is a lower bound on the work done.
 *
 * `--model builtin` (default) measures the project's encoder, `builtinEncoder('minilm-l6-shape')`
 * from src/models; `--model standalone` a BERT stack written here with ops.ts that uses the
 * fused `attention` op (for comparing, and for iterating on ops.ts without the model code).
 *
 * `--naive` turns off ops.ts's fast paths (plain tf.matMul with transposes, tfjs's own matMul
 * and gather gradients): the "before" figures. `--profile` prints time per kernel for one
 * training step. `--write` replaces the "Encoder throughput" section of benchmarks/RESULTS.md
 * with this run's table (keeping the before/after notes written by hand below the marker).
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { attention, embeddingLookup, gelu, layerNorm, linear, setFastPaths } from '../src/backend/ops.js';
import { builtinEncoder, type TokenBatch } from '../src/models/index.js';
import { writeFileAtomic } from '../src/util/fs.js';
import { SHAPE, forwardFlops, syntheticBatch } from './minilm-shape.js';

interface Args {
  backend: string;
  batch: number;
  seq: number;
  steps: number;
  naive: boolean;
  profile: boolean;
  write: boolean;
  model: 'builtin' | 'standalone';
}

function parseArgs(argv: string[]): Args {
  const a: Args = { backend: 'wasm', batch: 32, seq: 128, steps: 3, naive: false, profile: false, write: false, model: 'builtin' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (k === '--backend') (a.backend = v!), i++;
    else if (k === '--batch') (a.batch = Number(v)), i++;
    else if (k === '--seq') (a.seq = Number(v)), i++;
    else if (k === '--steps') (a.steps = Number(v)), i++;
    else if (k === '--naive') a.naive = true;
    else if (k === '--profile') a.profile = true;
    else if (k === '--write') a.write = true;
    else if (k === '--model') (a.model = v === 'standalone' ? 'standalone' : 'builtin'), i++;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}


/** The benchmarked part of an encoder: forward to sentence embeddings, and its variables. */
interface Bench {
  forward(batch: TokenBatch): tf.Tensor2D;
  trainableVariables(): tf.Variable[];
  dispose(): void;
}

/**
 * A BERT encoder (post-LayerNorm, as bert-base / MiniLM) with mean pooling, built from ops.ts
 * and the fused attention op; N(0, 0.02) weights from a fixed seed.
 */
function standaloneBert(s = SHAPE): Bench {
  const vars: tf.Variable[] = [];
  let seed = 1;
  const w = (shape: number[]) => {
    const v = tf.variable(tf.randomNormal(shape, 0, 0.02, 'float32', seed++));
    vars.push(v);
    return v;
  };
  const zeros = (n: number) => {
    const v = tf.variable(tf.zeros([n]));
    vars.push(v);
    return v as tf.Variable<tf.Rank.R1>;
  };
  const ones = (n: number) => {
    const v = tf.variable(tf.ones([n]));
    vars.push(v);
    return v as tf.Variable<tf.Rank.R1>;
  };
  const H = s.hidden;
  const dense = (i: number, o: number) => ({ k: w([i, o]) as tf.Variable<tf.Rank.R2>, b: zeros(o) });
  const word = w([s.vocab, H]) as tf.Variable<tf.Rank.R2>;
  const pos = w([512, H]) as tf.Variable<tf.Rank.R2>;
  const type = w([2, H]) as tf.Variable<tf.Rank.R2>;
  const embLn = { g: ones(H), b: zeros(H) };
  const layers = Array.from({ length: s.layers }, () => ({
    q: dense(H, H), k: dense(H, H), v: dense(H, H), o: dense(H, H), ln1: { g: ones(H), b: zeros(H) },
    ffIn: dense(H, s.intermediate), ffOut: dense(s.intermediate, H), ln2: { g: ones(H), b: zeros(H) },
  }));
  return {
    forward(batch) {
      const { batchSize: B, seqLen: T } = batch;
      const nh = s.heads;
      const hd = H / nh;
      return tf.tidy(() => {
        const posIds = Int32Array.from({ length: B * T }, (_, i) => i % T);
        let x = tf.add(tf.add(embeddingLookup(word, batch.inputIds, [B, T]), embeddingLookup(pos, posIds, [B, T])), embeddingLookup(type, batch.tokenTypeIds, [B, T]));
        x = layerNorm(x, embLn.g, embLn.b, 1e-12);
        const mask = tf.tensor(batch.attentionMask, [B, 1, 1, T], 'float32');
        const maskBias = tf.mul(tf.sub(1, mask), -1e9);
        const heads = (t: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, nh, hd]), [0, 2, 1, 3]), [B * nh, T, hd]) as tf.Tensor3D;
        for (const l of layers) {
          const ctx = attention(heads(linear(x, l.q.k, l.q.b)), heads(linear(x, l.k.k, l.k.b)), heads(linear(x, l.v.k, l.v.b)), maskBias, 1 / Math.sqrt(hd));
          const merged = tf.reshape(tf.transpose(tf.reshape(ctx, [B, nh, T, hd]), [0, 2, 1, 3]), [B, T, H]);
          x = layerNorm(tf.add(x, linear(merged, l.o.k, l.o.b)), l.ln1.g, l.ln1.b, 1e-12);
          const ff = linear(gelu(linear(x, l.ffIn.k, l.ffIn.b)), l.ffOut.k, l.ffOut.b);
          x = layerNorm(tf.add(x, ff), l.ln2.g, l.ln2.b, 1e-12);
        }
        return tf.mean(x, 1) as tf.Tensor2D;
      });
    },
    trainableVariables: () => vars,
    dispose: () => tf.dispose(vars),
  };
}


/**
 * Wall and CPU seconds of f. The wasm backend is single-threaded, so CPU time (user + system of
 * this process) is the figure that stays meaningful when other jobs share the machine's cores;
 * both are reported. On a GPU backend only wall time means anything.
 */
async function time(f: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

async function timeSteps(f: () => Promise<void>, steps: number): Promise<{ wall: number; cpu: number }> {
  let wall = 0;
  let cpu = 0;
  for (let i = 0; i < steps; i++) {
    const t = await time(f);
    wall += t.wall;
    cpu += t.cpu;
  }
  return { wall: wall / steps, cpu: cpu / steps };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await initBackend(args.backend);
  if (args.naive) setFastPaths(false);
  const encoder: Bench = args.model === 'standalone' ? standaloneBert() : builtinEncoder('minilm-l6-shape', 1);
  const batch = syntheticBatch(args.batch, args.seq, SHAPE.vocab);
  const vars = encoder.trainableVariables();
  const B = args.batch;
  const T = args.seq;
  const fwdFlops = forwardFlops(B, T);

  // Reads are async (data(), not dataSync()): GPU backends in Node can only read that way, and
  // awaiting every result is what makes the step's time include the device's work.
  const encodeOnce = async () => {
    const e = tf.tidy(() => encoder.forward(batch));
    await e.data();
    e.dispose();
  };
  const trainOnce = async () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(encoder.forward(batch))) as tf.Scalar, vars);
    await Promise.all([value.data(), ...Object.values(grads).map((g) => g.data())]);
    tf.dispose([value, ...Object.values(grads)]);
  };

  const tensorsBefore = tf.memory().numTensors;
  await encodeOnce(); // warm-up: kernels' first-call setup (shader compilation), weight packing
  const enc = await timeSteps(encodeOnce, args.steps);
  await trainOnce();
  const train = await timeSteps(trainOnce, args.steps);
  // Per-step time: CPU seconds on CPU backends (see `time`; on an idle machine it equals wall
  // time), wall seconds on GPU backends (the CPU mostly waits).
  const gpu = backend === 'webgpu' || backend === 'webgl';
  const encodeS = gpu ? enc.wall : enc.cpu;
  const trainS = gpu ? train.wall : train.cpu;
  if (tf.memory().numTensors !== tensorsBefore) console.error(`warning: ${tf.memory().numTensors - tensorsBefore} tensors leaked`);

  const row = {
    backend: `${backend}, ${args.model === 'standalone' ? 'standalone BERT + fused attention' : 'builtin:minilm-l6-shape'}${args.naive ? ', naive ops (before)' : ''}`,
    batch: B,
    seq: T,
    steps: args.steps,
    encodeSentPerS: B / encodeS,
    encodeGflops: fwdFlops / encodeS / 1e9,
    trainStepS: trainS,
    trainTokPerS: (B * T) / trainS,
    trainGflops: (3 * fwdFlops) / trainS / 1e9,
    encodeWallS: enc.wall,
    trainWallS: train.wall,
  };
  console.log(JSON.stringify(row));
  console.log(
    `${row.backend}: encode ${row.encodeSentPerS.toFixed(1)} sentences/s (${row.encodeGflops.toFixed(2)} GFLOP/s), ` +
      `train step ${trainS.toFixed(2)} s = ${row.trainTokPerS.toFixed(0)} tokens/s (${row.trainGflops.toFixed(2)} GFLOP/s effective); ` +
      `wall ${enc.wall.toFixed(2)} s / ${train.wall.toFixed(2)} s per encode / train step`,
  );

  if (args.profile) {
    const info = await tf.profile(trainOnce);
    const byKernel = new Map<string, { ms: number; n: number }>();
    for (const k of info.kernels) {
      const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
      e.ms += Number(k.kernelTimeMs) || 0;
      e.n++;
      byKernel.set(k.name, e);
    }
    const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
    console.log('kernel time in one training step (tf.profile):');
    for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15)) {
      console.log(`  ${name.padEnd(28)} ${e.ms.toFixed(0).padStart(7)} ms  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  (${e.n} calls)`);
    }
  }
  if (args.write) writeResultRow(row);
  encoder.dispose();
}

type Row = { backend: string; batch: number; seq: number; steps: number; encodeSentPerS: number; encodeGflops: number; trainStepS: number; trainTokPerS: number; trainGflops: number; trainWallS: number };

const HEADING = '## Encoder throughput';
const TABLE_HEAD = '| backend | batch x seq | steps | encode sentences/s | encode GFLOP/s | train step s (CPU) | train tokens/s | train GFLOP/s (eff.) | train step s (wall) |\n|---|---|---|---|---|---|---|---|---|';

/**
 * Add or replace this backend's row in the section's table (other sections of RESULTS.md and
 * the hand-written notes in this one are kept).
 */
function writeResultRow(row: Row): void {
  const file = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const line = `| ${row.backend} | ${row.batch} x ${row.seq} | ${row.steps} | ${row.encodeSentPerS.toFixed(1)} | ${row.encodeGflops.toFixed(2)} | ${row.trainStepS.toFixed(2)} | ${row.trainTokPerS.toFixed(0)} | ${row.trainGflops.toFixed(2)} | ${row.trainWallS.toFixed(2)} |`;
  const start = text.indexOf(HEADING);
  let section: string;
  let before: string;
  let after: string;
  if (start < 0) {
    before = text.endsWith('\n') ? text + '\n' : text + '\n\n';
    after = '';
    section = `${HEADING}\n\n${TABLE_HEAD}\n`;
  } else {
    const next = text.indexOf('\n## ', start + HEADING.length);
    before = text.slice(0, start);
    after = next < 0 ? '' : text.slice(next + 1);
    section = text.slice(start, next < 0 ? text.length : next + 1);
    if (!section.includes(TABLE_HEAD)) section = section.trimEnd() + `\n\n${TABLE_HEAD}\n`;
  }
  const lines = section.split('\n');
  const idx = lines.findIndex((l) => l.startsWith(`| ${row.backend} |`));
  if (idx >= 0) lines[idx] = line;
  else {
    let end = lines.findIndex((l) => l.startsWith('|---'));
    while (lines[end + 1]?.startsWith('|')) end++;
    lines.splice(end + 1, 0, line);
  }
  const stamp = `Machine: ${os.cpus().length}-core ${os.arch()} CI-class VM (${(os.cpus()[0]?.model ?? 'unknown CPU').trim()}), Node ${process.version}, no GPU. Last run ${new Date().toISOString().slice(0, 16)}Z.`;
  section = lines.map((l) => (l.startsWith('Machine: ') ? stamp : l)).join('\n');
  if (!section.includes('Machine: ')) section = section.replace(`${HEADING}\n`, `${HEADING}\n\n${stamp}\n`);
  writeFileAtomic(file, before + section.trimEnd() + '\n' + (after ? '\n' + after : ''));
}

await main();
