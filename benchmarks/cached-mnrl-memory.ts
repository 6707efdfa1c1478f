/**
 * Memory of cached in-batch negatives (training.mini_batch_size, src/training/cached-step.ts):
 * a few real training steps (train(), MultipleNegativesRankingLoss on (anchor, positive)
 * pairs, AdamW) at plain batch 32, at batch 1024 embedded 32 rows at a time, and at plain batch
 * 1024 where it fits, each in a fresh child process, which reports its peak resident memory
 * (process.resourceUsage().maxRSS) and, on tfjs wasm, the size of the wasm heap (it only
 * grows, so it is the peak of what tfjs held). Run
 * `node --import tsx benchmarks/cached-mnrl-memory.ts --help` for the options.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

const HELP = `Peak memory of MultipleNegativesRankingLoss training steps: plain batch 32, batch 1024 in
mini-batches of 32 (GradCache, training.mini_batch_size), and plain batch 1024; each row a
fresh child process running train() for a few steps.

usage: node --import tsx benchmarks/cached-mnrl-memory.ts [options]

  --model builtin:tiny    the model (builtin:tiny, builtin:minilm-l6-shape, or a folder)
  --engine tfjs           tfjs (the tfjs wasm backend) or onnx (the onnx training engine)
  --tokens 32             tokens per text (texts are cut to this length)
  --steps 2               optimizer steps per row
  --rows plain:32,cached:1024/32,plain:1024
                          the rows: plain:BATCH or cached:BATCH/MINI
  --json                  one JSON object per row instead of the table
  --help                  this text

A row that fails (out of memory: the tfjs wasm heap stops at 4 GB) is reported as failed with
the child's last line of output.`;

interface Row {
  label: string;
  batch: number;
  mini: number | null;
}

interface Args {
  model: string;
  engine: 'tfjs' | 'onnx';
  tokens: number;
  steps: number;
  rows: Row[];
  json: boolean;
}

function fail(message: string): never {
  process.stderr.write(`cached-mnrl-memory: ${message} (see --help)\n`);
  process.exit(2);
}

function positiveInt(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`${flag} takes a positive whole number, got '${v ?? ''}'`);
  return n;
}

function parseRows(v: string | undefined): Row[] {
  return (v ?? '').split(',').map((s) => {
    const plain = /^\s*plain:(\d+)\s*$/.exec(s);
    if (plain && Number(plain[1]) >= 2) return { label: `plain batch ${plain[1]}`, batch: Number(plain[1]), mini: null };
    const cached = /^\s*cached:(\d+)\/(\d+)\s*$/.exec(s);
    if (cached && Number(cached[1]) >= 2 && Number(cached[2]) >= 1 && Number(cached[2]) <= Number(cached[1])) {
      return { label: `batch ${cached[1]}, mini-batch ${cached[2]}`, batch: Number(cached[1]), mini: Number(cached[2]) };
    }
    return fail(`--rows takes plain:BATCH or cached:BATCH/MINI (BATCH >= 2, MINI <= BATCH) separated by commas, got '${s}'`);
  });
}

function parseArgs(argv: string[]): Args | null {
  const a: Args = { model: 'builtin:tiny', engine: 'tfjs', tokens: 32, steps: 2, rows: parseRows('plain:32,cached:1024/32,plain:1024'), json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--help' || k === '-h') return null;
    else if (k === '--model') {
      if (!v) fail('--model needs a model');
      (a.model = v), i++;
    } else if (k === '--engine') {
      if (v !== 'tfjs' && v !== 'onnx') fail(`--engine takes tfjs or onnx, got '${v ?? ''}'`);
      (a.engine = v), i++;
    } else if (k === '--tokens') (a.tokens = positiveInt(k, v)), i++;
    else if (k === '--steps') (a.steps = positiveInt(k, v)), i++;
    else if (k === '--rows') (a.rows = parseRows(v)), i++;
    else if (k === '--json') a.json = true;
    else fail(`unknown argument '${k}'`);
  }
  return a;
}

interface Measured {
  maxRssMB: number;
  wasmHeapMB: number | null;
  secondsPerStep: number;
  firstLoss: number;
}

/** The child: write `batch * steps` unique pairs, train on them, print what it measured as one JSON line. */
async function child(spec: { model: string; engine: 'tfjs' | 'onnx'; tokens: number; steps: number; batch: number; mini: number | null }): Promise<void> {
  const { initBackend } = await import('../src/backend/index.js');
  const { parseRecipe } = await import('../src/recipe/index.js');
  const { train } = await import('../src/training/index.js');
  await initBackend('wasm', { quiet: true });
  const dir = mkdtempSync(join(os.tmpdir(), 'cached-mnrl-'));
  try {
    const words = ['guitar', 'onion', 'horse', 'piano', 'river', 'bread', 'phone', 'chair', 'cloud', 'apple', 'stone', 'train'];
    const text = (i: number, k: number) => {
      let s = `${i} ${k}`;
      for (let j = 0; s.length < spec.tokens * 2; j++) s += ` ${words[(i * 7 + j * 5 + k * 3) % words.length]}`;
      return s;
    };
    const rows = ['anchor,positive'];
    for (let i = 0; i < spec.batch * spec.steps; i++) rows.push(`${text(i, 0)},${text(i, 1)}`);
    writeFileSync(join(dir, 'train.csv'), rows.join('\n') + '\n');
    const recipe = parseRecipe(
      {
        model: { base: spec.model, max_seq_length: spec.tokens },
        data: { train: 'train.csv', columns: { texts: ['anchor', 'positive'], label: null } },
        loss: { name: 'multiple_negatives_ranking' },
        optimizer: { name: 'adamw', lr: 2e-5 },
        training: { batch_size: spec.batch, mini_batch_size: spec.mini, max_steps: spec.steps, shuffle: false, checkpoint_every: null },
        output: { dir: join(dir, 'run') },
      },
      { baseDir: dir },
    );
    const times: number[] = [];
    let last = performance.now();
    const result = await train(recipe, {
      log: () => {},
      progress: false,
      skipSave: true,
      engine: spec.engine,
      onStep: () => {
        const now = performance.now();
        times.push((now - last) / 1000);
        last = now;
      },
    });
    const backend = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
    const heap = backend.wasm?.HEAPU8?.byteLength;
    const out: Measured = {
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      wasmHeapMB: spec.engine === 'tfjs' && heap !== undefined ? heap / 2 ** 20 : null,
      // the first step also builds the sessions / kernels: the median of the rest when there are any
      secondsPerStep: times.length > 1 ? times.slice(1).sort((x, y) => x - y)[(times.length - 1) >> 1] : times[0],
      firstLoss: result.losses[0],
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parent(a: Args): void {
  const self = fileURLToPath(import.meta.url);
  const results: Array<Row & { measured: Measured | null; error?: string; load: number }> = [];
  if (!a.json) {
    process.stdout.write(`model ${a.model}, engine ${a.engine === 'tfjs' ? 'tfjs wasm' : 'onnx'}, ${a.tokens} tokens per text, ${a.steps} steps per row, MNRL on (anchor, positive); ${os.cpus().length} cores\n\n`);
    process.stdout.write('| rows | peak RSS (MB) | wasm heap (MB) | s / step | first loss | load (1 min) |\n| --- | ---: | ---: | ---: | ---: | ---: |\n');
  }
  for (const row of a.rows) {
    const spec = { model: a.model, engine: a.engine, tokens: a.tokens, steps: a.steps, batch: row.batch, mini: row.mini };
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const load = os.loadavg()[0];
    const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    let measured: Measured | null = null;
    try {
      measured = r.status === 0 ? (JSON.parse(line) as Measured) : null;
    } catch {
      measured = null;
    }
    // the error's own line (an Emscripten abort prints the module's source before it)
    const said = (r.stderr ?? '').split('\n').filter((l) => /^\w*Error\b|^Aborted/.test(l.trim())).pop() ?? (r.stderr ?? '').trim().split('\n').pop() ?? '';
    const error = measured ? undefined : `${r.signal ?? `exit ${r.status}`}: ${said.trim().slice(0, 200)}`;
    results.push({ ...row, measured, error, load });
    if (a.json) process.stdout.write(`${JSON.stringify({ ...row, model: a.model, engine: a.engine, tokens: a.tokens, ...measured, error, load })}\n`);
    else if (measured) {
      const heap = measured.wasmHeapMB === null ? '-' : measured.wasmHeapMB.toFixed(0);
      process.stdout.write(`| ${row.label} | ${measured.maxRssMB.toFixed(0)} | ${heap} | ${measured.secondsPerStep.toFixed(2)} | ${measured.firstLoss.toFixed(4)} | ${load.toFixed(1)} |\n`);
    } else process.stdout.write(`| ${row.label} | failed (${error}) | | | | ${load.toFixed(1)} |\n`);
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(JSON.parse(argv[1]));
else {
  const a = parseArgs(argv);
  if (a === null) process.stdout.write(`${HELP}\n`);
  else parent(a);
}
