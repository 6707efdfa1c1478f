/**
 * ONNX Runtime inference throughput: `encode` of a MiniLM-L6-shaped BERT (random weights) on
 * the `onnx` backend at each thread count, side by side with tfjs wasm (one thread) and
 * PyTorch CPU (benchmarks/peers/torch_encode_throughput.py, the same model in plain torch
 * under torch.no_grad at torch.set_num_threads(N)), plus the machine's GEMM ceiling: a
 * 2048 x 2048 x 2048 MatMul on onnxruntime and, when /usr/bin/python3 has it, numpy.
 * Run `node --import tsx benchmarks/onnx-throughput.ts --help` for the options.
 *
 * Each figure is the median of `--reps` timed runs of one batch after a warm-up run (which,
 * on onnx, also builds the session). Times are wall-clock: the onnx and torch rows use several
 * threads, so CPU time would not be comparable. The 1-minute load average is printed with
 * every row, because other jobs on the machine slow every row down.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, ONNX_BACKENDS } from '../src/backend/index.js';
import { DataType, GraphBuilder } from '../src/engine/onnx/graph.js';
import { OnnxInferenceEngine } from '../src/engine/onnx/inference.js';
import { checkProvider, type ExecutionProvider } from '../src/engine/onnx/providers.js';
import { encodeModel } from '../src/engine/onnx/proto.js';
import { createSession, loadOrt, ortVersion } from '../src/engine/onnx/runtime.js';
import { builtinEncoder, type SentenceEncoder, type TokenBatch } from '../src/models/index.js';
import { forwardFlops, syntheticBatch } from './minilm-shape.js';

const HERE = dirname(fileURLToPath(import.meta.url));

const HELP = `ONNX Runtime inference throughput (MiniLM-L6 shape, random weights), side by side with
tfjs wasm and PyTorch CPU, and the GEMM ceiling (MatMul 2048^3).

usage: node --import tsx benchmarks/onnx-throughput.ts [options]

  --shapes 32x128,32x32   batch x sequence shapes to encode (full batches, no padding)
  --threads 1,2           onnxruntime intra-op threads and torch.set_num_threads values
  --backend onnx          the onnx rows' execution provider: onnx (CPU), onnx-webgpu or
                          onnx-cuda (src/engine/onnx/providers.ts; --threads then sizes
                          the pool of the nodes left on the CPU)
  --reps 5                timed runs per row (the median is reported), after one warm-up
  --wasm-reps 2           timed runs for the wasm rows (slow: ~5 s per 32 x 128 batch)
  --python PATH           the Python with torch (and numpy) for the peer rows
                          (default /usr/bin/python3, Debian's python3-torch + libopenblas0-openmp)
  --no-torch              skip the PyTorch rows
  --no-wasm               skip the tfjs wasm rows
  --no-matmul             skip the MatMul 2048^3 ceiling rows
  --json                  print one JSON object per row instead of the table
  --help                  this text

Rows: encode on onnx (each --threads), PyTorch (each --threads), wasm (1 thread); then
MatMul 2048^3 on onnxruntime and numpy (each --threads). GFLOP/s counts the matmuls of the
forward pass only (see benchmarks/minilm-shape.ts), so it is a lower bound on the work done.`;

interface Args {
  shapes: [number, number][];
  threads: number[];
  provider: ExecutionProvider;
  reps: number;
  wasmReps: number;
  python: string;
  torch: boolean;
  wasm: boolean;
  matmul: boolean;
  json: boolean;
}

function fail(message: string): never {
  process.stderr.write(`onnx-throughput: ${message} (see --help)\n`);
  process.exit(2);
}

function positiveInts(flag: string, v: string | undefined): number[] {
  const out = (v ?? '').split(',').map((s) => Number(s.trim()));
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < 1)) fail(`${flag} takes positive whole numbers separated by commas, got '${v ?? ''}'`);
  return out;
}

export function parseArgs(argv: string[]): Args | null {
  const a: Args = { shapes: [[32, 128], [32, 32]], threads: [1, 2], provider: 'cpu', reps: 5, wasmReps: 2, python: '/usr/bin/python3', torch: true, wasm: true, matmul: true, json: false };
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
    else if (k === '--no-matmul') a.matmul = false;
    else if (k === '--json') a.json = true;
    else fail(`unknown argument '${k}'`);
  }
  return a;
}

interface Row {
  what: string;
  engine: string;
  threads: number;
  shape: string;
  /** Seconds per run: the median, and the fastest. */
  medianS: number;
  bestS: number;
  gflops: number;
  sentencesPerS?: number;
  load: number;
  note?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timeRuns(run: () => Promise<unknown>, reps: number): Promise<number[]> {
  await run(); // warm-up: session build, weight packing, first-call allocations
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

function encodeRow(engine: string, threads: number, B: number, T: number, times: number[], load: number): Row {
  const m = median(times);
  return { what: 'encode', engine, threads, shape: `${B}x${T}`, medianS: m, bestS: Math.min(...times), gflops: forwardFlops(B, T) / m / 1e9, sentencesPerS: B / m, load };
}

async function onnxEncode(enc: SentenceEncoder, batch: TokenBatch, threads: number, provider: ExecutionProvider, reps: number): Promise<number[]> {
  const engine = new OnnxInferenceEngine({ threads, provider });
  try {
    return await timeRuns(() => engine.embed(enc, batch), reps);
  } finally {
    engine.release(enc);
  }
}

async function wasmEncode(enc: SentenceEncoder, batch: TokenBatch, reps: number): Promise<number[]> {
  return timeRuns(async () => {
    const e = tf.tidy(() => enc.forward(batch));
    await e.data();
    e.dispose();
  }, reps);
}

/** Run a peer script; its last stdout line is JSON with `times_s`. Null (and why) when it cannot run. */
function peer(python: string, script: string, args: string[], env: Record<string, string> = {}): { times: number[]; info: Record<string, unknown> } | { error: string } {
  if (!existsSync(python)) return { error: `${python} not found` };
  const r = spawnSync(python, [join(HERE, 'peers', script), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 600_000 });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()! };
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown> & { times_s: number[] };
  return { times: info.times_s, info };
}

async function onnxMatMul(threads: number, provider: ExecutionProvider, reps: number, n = 2048): Promise<number[]> {
  const g = new GraphBuilder('matmul');
  const a = g.input('a', DataType.FLOAT, [n, n]);
  const b = g.floats('b', [n, n], Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13 - 0.5));
  g.output('c', g.matmul(a, b), DataType.FLOAT, [n, n]);
  const session = await createSession(encodeModel(g.toModel({ producerName: 'onnx-throughput', producerVersion: '0', docString: 'MatMul ceiling' })), { threads, provider });
  const ort = await loadOrt();
  const feeds = { a: new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => ((i * 5) % 11) / 11 - 0.5), [n, n]) };
  try {
    return await timeRuns(() => session.run(feeds), reps);
  } finally {
    await session.release();
  }
}

function table(rows: Row[]): string {
  const torch = new Map(rows.filter((r) => r.engine.startsWith('PyTorch')).map((r) => [`${r.what} ${r.shape} ${r.threads}`, r]));
  const lines = [
    '| what | engine | threads | batch x seq | median s | best s | sentences/s | GFLOP/s | vs PyTorch (same threads) | load (1 min) |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const t = torch.get(`${r.what} ${r.shape} ${r.threads}`);
    const vs = t && t !== r ? `${(t.medianS / r.medianS).toFixed(2)}x` : '';
    const sps = r.sentencesPerS === undefined ? '' : r.sentencesPerS.toFixed(1);
    lines.push(`| ${r.what} | ${r.engine} | ${r.threads} | ${r.shape} | ${r.medianS.toFixed(3)} | ${r.bestS.toFixed(3)} | ${sps} | ${r.gflops.toFixed(1)} | ${vs} | ${r.load.toFixed(2)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  // Weights live in tfjs (wasm here, as under --backend onnx); the rows make their own engines.
  await initBackend('wasm', { quiet: true });
  const unusable = await checkProvider(await loadOrt(), args.provider);
  if (unusable) fail(`onnxruntime's ${args.provider} execution provider ${unusable}`);
  const onnxName = `onnx${args.provider === 'cpu' ? '' : ` ${args.provider}`} (onnxruntime-node ${ortVersion()})`;
  const enc = builtinEncoder('minilm-l6-shape', 1);
  const rows: Row[] = [];
  const notes: string[] = [];
  const emit = (r: Row) => {
    rows.push(r);
    if (args.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stderr.write(`  ${r.what} ${r.engine} ${r.threads}t ${r.shape}: ${r.medianS.toFixed(3)} s (${r.gflops.toFixed(1)} GFLOP/s), load ${r.load.toFixed(2)}\n`);
  };
  const load = () => os.loadavg()[0];

  for (const [B, T] of args.shapes) {
    const batch = syntheticBatch(B, T);
    for (const t of args.threads) {
      const l = load();
      emit(encodeRow(onnxName, t, B, T, await onnxEncode(enc, batch, t, args.provider, args.reps), l));
    }
    if (args.torch) {
      for (const t of args.threads) {
        const l = load();
        const p = peer(args.python, 'torch_encode_throughput.py', ['--threads', String(t), '--batch', String(B), '--seq', String(T), '--reps', String(args.reps)]);
        if ('error' in p) {
          notes.push(`PyTorch ${t} threads ${B}x${T}: not run (${p.error})`);
          continue;
        }
        emit(encodeRow(`PyTorch ${p.info.torch} CPU`, t, B, T, p.times, l));
      }
    }
    if (args.wasm) {
      const l = load();
      emit(encodeRow('tfjs wasm', 1, B, T, await wasmEncode(enc, batch, args.wasmReps), l));
    }
  }
  if (args.matmul) {
    const n = 2048;
    const flops = 2 * n ** 3;
    for (const t of args.threads) {
      const l = load();
      const times = await onnxMatMul(t, args.provider, args.reps, n);
      emit({ what: 'MatMul 2048^3', engine: `onnxruntime-node ${ortVersion()}${args.provider === 'cpu' ? '' : ` ${args.provider}`}`, threads: t, shape: '2048x2048', medianS: median(times), bestS: Math.min(...times), gflops: flops / median(times) / 1e9, load: l });
    }
    for (const t of args.threads) {
      const l = load();
      // OpenBLAS reads its thread count from the environment when numpy loads it.
      const p = peer(args.python, 'numpy_matmul.py', ['--n', String(n), '--reps', String(args.reps)], { OPENBLAS_NUM_THREADS: String(t), OMP_NUM_THREADS: String(t) });
      if ('error' in p) {
        notes.push(`numpy MatMul ${t} threads: not run (${p.error})`);
        continue;
      }
      emit({ what: 'MatMul 2048^3', engine: `numpy ${p.info.numpy} (${p.info.blas})`, threads: t, shape: '2048x2048', medianS: median(p.times), bestS: Math.min(...p.times), gflops: flops / median(p.times) / 1e9, load: l });
    }
  }
  enc.dispose();
  if (!args.json) {
    const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').trim();
    process.stdout.write(`Machine: ${os.cpus().length} CPUs (${cpu}), ${os.arch()}, Node ${process.version}; reps ${args.reps} (wasm ${args.wasmReps}); load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n\n`);
    process.stdout.write(`${table(rows)}\n`);
    for (const n of notes) process.stdout.write(`\n- ${n}`);
    if (notes.length) process.stdout.write('\n');
  }
}

await main();
