/**
 * What dynamic int8 quantization (`sbert-train export onnx --quantize int8`) costs and saves:
 * file size of onnx/model.onnx vs onnx/model_quantized.onnx, and STS Benchmark test Spearman
 * (cosine) of each, both run by onnxruntime on the graph's `sentence_embedding` output.
 *
 *   node --import tsx benchmarks/onnx-int8.ts [--model builtin:tiny] [--help]
 *
 * Needs ../shared/datasets/stsb (skips with the reason when absent).
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { exportOnnx } from '../src/engine/onnx/index.js';
import { createSession, runSentenceEmbedding, type OrtSession } from '../src/engine/onnx/runtime.js';
import { readStsbFile } from '../src/data/sts.js';
import { spearman } from '../src/evaluation/metrics.js';
import type { SentenceEncoder } from '../src/models/index.js';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write('usage: node --import tsx benchmarks/onnx-int8.ts [--model SPEC]   (default builtin:tiny, seed 42)\n');
  process.exit(0);
}
const at = args.indexOf('--model');
const spec = at >= 0 && args[at + 1] ? args[at + 1] : 'builtin:tiny';
const stsb = join(import.meta.dirname, '..', '..', 'shared', 'datasets', 'stsb', 'sts-test.csv');
if (!existsSync(stsb)) {
  process.stdout.write(`skipped: ${stsb} is absent\n`);
  process.exit(0);
}

await initBackend('wasm', { quiet: true });
const encoder = (await loadEncoder(spec)) as SentenceEncoder;
const out = join(mkdtempSync(join(tmpdir(), 'int8-')), 'export');
await exportOnnx(encoder, out, { quantize: 'int8' });
const pairs = readStsbFile(stsb);

async function spearmanOf(session: OrtSession): Promise<number> {
  const cos: number[] = [];
  for (let i = 0; i < pairs.length; i += 32) {
    const chunk = pairs.slice(i, i + 32);
    const a = await runSentenceEmbedding(session, encoder.tokenize(chunk.map((p) => p.sentence1)));
    const b = await runSentenceEmbedding(session, encoder.tokenize(chunk.map((p) => p.sentence2)));
    for (let r = 0; r < chunk.length; r++) {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let k = 0; k < a.dim; k++) {
        const x = a.data[r * a.dim + k];
        const y = b.data[r * b.dim + k];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      cos.push(dot / Math.sqrt(na * nb));
    }
  }
  return spearman(cos, pairs.map((p) => p.score));
}

const rows: string[] = ['| model file | bytes | STSb test spearman_cosine |', '|---|---:|---:|'];
const results: number[] = [];
for (const name of ['model.onnx', 'model_quantized.onnx']) {
  const file = join(out, 'onnx', name);
  const s = await spearmanOf(await createSession(file, { threads: 2 }));
  results.push(s);
  rows.push(`| onnx/${name} | ${statSync(file).size} | ${s.toFixed(5)} |`);
}
process.stdout.write(`${spec}, STS Benchmark test (${pairs.length} pairs), onnxruntime 2 threads\n${rows.join('\n')}\nchange: ${(results[1] - results[0]).toFixed(5)}\n`);
rmSync(join(out, '..'), { recursive: true, force: true });
