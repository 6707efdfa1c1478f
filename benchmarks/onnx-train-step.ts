/**
 * Training-step speed: one optimizer step of a MiniLM-L6-shaped BERT (random weights) trained
 * as a Siamese pair (two towers: two batches through the same encoder), cosine MSE loss,
 * AdamW, on the `onnx` training engine (src/engine/onnx/training.ts via the trainer's
 * engineStepOnce) at each thread count, beside tfjs wasm (the trainer's tfjs step: variableGrads
 * over both towers and the loss, then src/training/optimizer.ts) and PyTorch CPU
 * (benchmarks/peers/torch_train_step.py, the same model in plain torch, torch.optim.AdamW).
 * Run `node --import tsx benchmarks/onnx-train-step.ts --help` for the options.
 *
 * Each figure is the median of `--reps` timed steps after a warm-up step (which on onnx also
 * builds the two sessions). Times are wall-clock; the 1-minute load average is printed with
 * every row, because other jobs on the machine slow every row down. The onnx rows also give
 * where a step's time goes (forward, loss, backward, summing, AdamW).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, ONNX_BACKENDS } from '../src/backend/index.js';
import { HostAdamW } from '../src/engine/adamw.js';
import { encoderSpec, encoderWeights } from '../src/engine/onnx/encoder.js';
import { checkProvider, type ExecutionProvider } from '../src/engine/onnx/providers.js';
import { loadOrt, ortVersion } from '../src/engine/onnx/runtime.js';
import { OnnxTrainingEngine } from '../src/engine/onnx/training.js';
import { createLoss } from '../src/losses/index.js';
import { builtinEncoder, type SentenceEncoder, type TokenBatch } from '../src/models/index.js';
import { AdamOptimizer, decaysByDefault } from '../src/training/optimizer.js';
import { forwardFlops, syntheticBatch } from './minilm-shape.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const HELP = `Training-step speed (MiniLM-L6 shape, random weights; two towers, cosine MSE, AdamW) on
the onnx training engine, tfjs wasm and PyTorch CPU.

usage: node --import tsx benchmarks/onnx-train-step.ts [options]

  --shapes 32x128,16x128,32x32
                          batch x sequence shapes (each tower: full batches, no padding)
  --threads 1,2           onnxruntime intra-op threads and torch.set_num_threads values
  --backend onnx          the onnx rows' execution provider: onnx (CPU), onnx-webgpu or
                          onnx-cuda (src/engine/onnx/providers.ts; --threads then sizes
                          the pool of the nodes left on the CPU)
  --reps 3                timed steps per row (the median is reported), after one warm-up
  --wasm-reps 1           timed steps for the wasm rows (slow: ~30 s per 16 x 128 step);
                          shapes over 2048 tokens per tower are skipped on wasm: two towers
                          of 32 x 128 overflow the tfjs wasm heap (4 GB) and abort the process
  --python PATH           the Python with torch for the peer rows (default /usr/bin/python3)
  --no-torch              skip the PyTorch rows
  --no-wasm               skip the tfjs wasm rows
  --json                  print one JSON object per row instead of the table
  --help                  this text

GFLOP/s counts 3x the forward matmuls of both towers (forward + backward), see
benchmarks/minilm-shape.ts; a lower bound on the work done.`;

interface Args {
  shapes: [number, number][];
  threads: number[];
  provider: ExecutionProvider;
  reps: number;
  wasmReps: number;
  python: string;
  torch: boolean;
  wasm: boolean;
  json: boolean;
}

function fail(message: string): never {
  process.stderr.write(`onnx-train-step: ${message} (see --help)\n`);
  process.exit(2);
}

function positiveInts(flag: string, v: string | undefined): number[] {
  const out = (v ?? '').split(',').map((s) => Number(s.trim()));
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < 1)) fail(`${flag} takes positive whole numbers separated by commas, got '${v ?? ''}'`);
  return out;
}

function parseArgs(argv: string[]): Args | null {
  const a: Args = { shapes: [[32, 128], [16, 128], [32, 32]], threads: [1, 2], provider: 'cpu', reps: 3, wasmReps: 1, python: '/usr/bin/python3', torch: true, wasm: true, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--help' || k === '-h') return null;
    else if (k === '--shapes') {
      a.shapes = (v ?? '').split(',').map((s) => {
        const m = /^\s*(\d+)x(\d+)\s*$/.exec(s);
        if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) fail(`--shapes takes BATCHxSEQ pairs separated by commas, got '${v ?? ''}'`);
        return [Number(m[1]), Number(m[2])] as [number, number];
      });
      i++;
    } else if (k === '--threads') (a.threads = positiveInts(k, v)), i++;
    else if (k === '--backend') {
      if (!v || !Object.hasOwn(ONNX_BACKENDS, v)) fail(`--backend takes ${Object.keys(ONNX_BACKENDS).join(', ')}, got '${v ?? ''}'`);
      (a.provider = ONNX_BACKENDS[v]), i++;
    }
    else if (k === '--reps') (a.reps = positiveInts(k, v)[0]), i++;
    else if (k === '--wasm-reps') (a.wasmReps = positiveInts(k, v)[0]), i++;
    else if (k === '--python') {
      if (!v) fail('--python needs a path');
      (a.python = v), i++;
    } else if (k === '--no-torch') a.torch = false;
    else if (k === '--no-wasm') a.wasm = false;
    else if (k === '--json') a.json = true;
    else fail(`unknown argument '${k}'`);
  }
  return a;
}

interface Row {
  engine: string;
  threads: number;
  shape: string;
  medianS: number;
  bestS: number;
  gflops: number;
  load: number;
  /** onnx: median seconds per phase. */
  phases?: Record<string, number>;
  /** The loss of the first (warm-up) step: every engine starts from the same weights and batches. */
  firstLoss?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const stepFlops = (B: number, T: number) => 2 * 3 * forwardFlops(B, T);
const ADAMW = { decoupled: true, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.01, decays: decaysByDefault };
const LR = 2e-5;
/** Tokens per tower above which the tfjs wasm step runs out of its 4 GB heap (two towers of 32 x 128 do). */
const WASM_MAX_TOKENS = 2048;

/** A second tower's batch: other ids, same shape. */
function otherBatch(b: TokenBatch): TokenBatch {
  const ids = b.inputIds.map((x, i) => 1 + ((x + 7919 * (i + 1)) % 30521));
  return { ...b, inputIds: Int32Array.from(ids) };
}

function labels(B: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: B }, (_, i) => ((i * 37) % 100) / 100));
}

/**
 * One onnx step: both towers forward, the loss and d loss / d embeddings in tfjs, both towers
 * backward, gradients summed, AdamW. The same sequence as src/training/engine-step.ts (no
 * clipping here), timed per phase; `backward` includes summing the towers' gradients.
 */
async function onnxStep(engine: OnnxTrainingEngine, towers: TokenBatch[], y: tf.Tensor1D, phases: Record<string, number[]>): Promise<number> {
  const loss = createLoss('cosine_mse', {});
  const t = [performance.now()];
  const mark = (name: string) => {
    t.push(performance.now());
    (phases[name] ??= []).push((t[t.length - 1] - t[t.length - 2]) / 1000);
  };
  const fwd = [];
  for (const b of towers) fwd.push(await engine.forward(b));
  mark('forward');
  const embs = fwd.map((f, i) => tf.tensor2d(f.embeddings, [towers[i].batchSize, engine.dim]));
  const { value, grads } = tf.valueAndGrads((...e: tf.Tensor[]) => loss.lossFromEmbeddings(e as tf.Tensor2D[], y))(embs);
  const d = await Promise.all(grads.map((g) => g.data()));
  const lossValue = (await value.data())[0];
  for (const x of [value, ...grads, ...embs]) x.dispose();
  mark('loss');
  const sum = new Map<string, Float32Array>();
  for (let i = 0; i < towers.length; i++) await engine.backward(fwd[i].saved, d[i] as Float32Array, sum);
  mark('backward');
  engine.step(sum, LR);
  mark('adamw');
  return lossValue;
}

async function onnxRows(enc: SentenceEncoder, B: number, T: number, threads: number, provider: ExecutionProvider, reps: number): Promise<Row> {
  const engine = await OnnxTrainingEngine.create(encoderSpec(enc), await encoderWeights(enc), new HostAdamW(ADAMW), { threads, provider });
  const a = syntheticBatch(B, T);
  const towers = [a, otherBatch(a)];
  const y = labels(B);
  const phases: Record<string, number[]> = {};
  const load = os.loadavg()[0];
  const firstLoss = await onnxStep(engine, towers, y, {}); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await onnxStep(engine, towers, y, phases);
    times.push((performance.now() - t0) / 1000);
  }
  y.dispose();
  await engine.release();
  const m = median(times);
  return {
    engine: `onnx${provider === 'cpu' ? '' : ` ${provider}`} (onnxruntime-node ${ortVersion()})`,
    threads,
    shape: `${B}x${T}`,
    medianS: m,
    bestS: Math.min(...times),
    gflops: stepFlops(B, T) / m / 1e9,
    load,
    phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)])),
    firstLoss,
  };
}

/** The trainer's tfjs step: variableGrads over both towers and the loss, then AdamOptimizer. */
async function wasmRow(enc: SentenceEncoder, B: number, T: number, reps: number): Promise<Row> {
  const loss = createLoss('cosine_mse', {});
  const a = syntheticBatch(B, T);
  const towers = [a, otherBatch(a)];
  const y = labels(B);
  const opt = new AdamOptimizer(ADAMW);
  const vars = enc.namedWeights();
  const byTf = new Map([...vars].map(([n, v]) => [v.name, n]));
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => loss.lossFromEmbeddings(towers.map((b) => enc.forward(b)), y), [...vars.values()]);
    const named = new Map(Object.entries(grads).map(([k, g]) => [byTf.get(k)!, g]));
    opt.apply(vars, named, LR);
    const v = (await value.data())[0];
    value.dispose();
    for (const g of named.values()) g.dispose();
    return v;
  };
  const load = os.loadavg()[0];
  const firstLoss = await step();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await step();
    times.push((performance.now() - t0) / 1000);
  }
  opt.dispose();
  y.dispose();
  const m = median(times);
  return { engine: 'tfjs wasm', threads: 1, shape: `${B}x${T}`, medianS: m, bestS: Math.min(...times), gflops: stepFlops(B, T) / m / 1e9, load, firstLoss };
}

function torchRow(python: string, B: number, T: number, threads: number, reps: number): Row | string {
  if (!existsSync(python)) return `${python} not found`;
  const load = os.loadavg()[0];
  const r = spawnSync(python, [join(HERE, 'peers', 'torch_train_step.py'), '--threads', String(threads), '--batch', String(B), '--seq', String(T), '--reps', String(reps)], { encoding: 'utf8', timeout: 1_200_000 });
  if (r.status !== 0) return (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()!;
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!) as { times_s: number[]; torch: string };
  const m = median(info.times_s);
  return { engine: `PyTorch ${info.torch} CPU`, threads, shape: `${B}x${T}`, medianS: m, bestS: Math.min(...info.times_s), gflops: stepFlops(B, T) / m / 1e9, load };
}

function table(rows: Row[]): string {
  const key = (r: Row, t: number) => `${r.shape} ${t}`;
  const torch = new Map(rows.filter((r) => r.engine.startsWith('PyTorch')).map((r) => [key(r, r.threads), r]));
  const wasm = new Map(rows.filter((r) => r.engine === 'tfjs wasm').map((r) => [r.shape, r]));
  const lines = [
    '| engine | threads | batch x seq (x2 towers) | median s/step | best s | GFLOP/s | vs PyTorch 2 threads | vs wasm | phases (median s) | load (1 min) |',
    '|---|---:|---|---:|---:|---:|---:|---:|---|---:|',
  ];
  for (const r of rows) {
    const t2 = torch.get(key(r, 2));
    const w = wasm.get(r.shape);
    const vsT = t2 && t2 !== r ? `${(t2.medianS / r.medianS).toFixed(2)}x` : '';
    const vsW = w && w !== r ? `${(w.medianS / r.medianS).toFixed(2)}x` : '';
    const ph = r.phases ? Object.entries(r.phases).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ') : '';
    lines.push(`| ${r.engine} | ${r.threads} | ${r.shape} | ${r.medianS.toFixed(3)} | ${r.bestS.toFixed(3)} | ${r.gflops.toFixed(1)} | ${vsT} | ${vsW} | ${ph} | ${r.load.toFixed(2)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  await initBackend('wasm', { quiet: true });
  const unusable = await checkProvider(await loadOrt(), args.provider);
  if (unusable) fail(`onnxruntime's ${args.provider} execution provider ${unusable}`);
  const rows: Row[] = [];
  const notes: string[] = [];
  const emit = (r: Row) => {
    rows.push(r);
    if (args.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stderr.write(`  ${r.engine} ${r.threads}t ${r.shape}: ${r.medianS.toFixed(3)} s/step, load ${r.load.toFixed(2)}\n`);
  };
  for (const [B, T] of args.shapes) {
    const enc = builtinEncoder('minilm-l6-shape', 1);
    for (const t of args.threads) emit(await onnxRows(enc, B, T, t, args.provider, args.reps));
    if (args.torch) {
      for (const t of args.threads) {
        const r = torchRow(args.python, B, T, t, args.reps);
        if (typeof r === 'string') notes.push(`PyTorch ${t} threads ${B}x${T}: not run (${r})`);
        else emit(r);
      }
    }
    if (args.wasm && B * T > WASM_MAX_TOKENS) notes.push(`tfjs wasm ${B}x${T}: not run (two towers of ${B * T} tokens overflow the 4 GB wasm heap: the trainer's tfjs path aborts on this shape)`);
    else if (args.wasm) emit(await wasmRow(enc, B, T, args.wasmReps));
    enc.dispose();
  }
  if (!args.json) {
    process.stdout.write(`${table(rows)}\n`);
    const first = rows.filter((r) => r.firstLoss !== undefined).map((r) => `${r.engine} ${r.threads}t ${r.shape}: ${r.firstLoss!.toPrecision(8)}`);
    process.stdout.write(`\nfirst-step loss (same weights, same batches):\n${first.join('\n')}\n`);
    for (const n of notes) process.stdout.write(`\n${n}\n`);
    process.stdout.write(`\nmachine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} logical CPUs; node ${process.version}\n`);
  }
}

await main();
