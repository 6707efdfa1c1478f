/**
 * Loopback load test of `sbert-train serve` with autocannon: 50 connections for 30 s against
 * 127.0.0.1 only. Two phases: distinct queries (each one embedded by the model) and one
 * repeated query (served from the query-embedding cache: HTTP + HNSW only).
 *
 *   node --import tsx benchmarks/serve-load.ts [--duration 30] [--connections 50] [--model builtin:tiny]
 *
 * The index holds the ESCO preferred labels (../shared) or, without it, 3000 synthetic texts.
 * The server runs as a separate process (the real CLI), so the load generator does not share
 * its event loop. Prints a markdown table for benchmarks/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    connections: { type: 'string', default: '50' },
    model: { type: 'string', default: 'builtin:tiny' },
  },
});
const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'sbert-train.js');
const ESCO = join(ROOT, '..', 'shared', 'datasets', 'esco', 'occupations_en.csv');

interface Result {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  latency: { p50: number; p99: number; average: number; max: number };
}
const autocannon = (await import('autocannon' as string)).default as (o: object) => Promise<Result>;

const work = mkdtempSync(join(tmpdir(), 'sbert-serve-load-'));
let docs: string[];
let queries: string[];
let source: string;
if (existsSync(ESCO)) {
  const rows = parse(readFileSync(ESCO, 'utf8'), { columns: true }) as Record<string, string>[];
  docs = rows.map((r) => r.preferredLabel);
  queries = [...new Set(rows.flatMap((r) => r.altLabels.split('\n')).filter(Boolean))];
  source = `ESCO preferred labels (${docs.length}), alt labels as queries`;
} else {
  docs = Array.from({ length: 3000 }, (_, i) => `synthetic occupation number ${i}`);
  queries = Array.from({ length: 5000 }, (_, i) => `query about job ${i}`);
  source = 'synthetic texts (../shared absent)';
}
writeFileSync(join(work, 'corpus.txt'), docs.join('\n') + '\n');
const index = join(work, 'index');

function cli(argv: string[]): Promise<number> {
  return new Promise((resolve) => spawn(process.execPath, [BIN, ...argv], { stdio: 'inherit' }).on('exit', (c) => resolve(c ?? 1)));
}

try {
  if ((await cli(['index', 'build', '--model', args.model!, '--input', join(work, 'corpus.txt'), '--out', index])) !== 0) throw new Error('index build failed');
  const server = spawn(process.execPath, [BIN, 'serve', '--index', index, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  const rows: string[] = [];
  try {
    for (const phase of ['distinct queries', 'one repeated query'] as const) {
      let i = 0;
      const r = await autocannon({
        url: `${url}search`,
        connections: Number(args.connections),
        duration: Number(args.duration),
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (req: Record<string, unknown>) => ({
              ...req,
              body: JSON.stringify({ query: phase === 'distinct queries' ? queries[i++ % queries.length] : 'software developer', k: 10 }),
            }),
          },
        ],
      });
      const row = `| ${phase} | ${args.connections} | ${args.duration} s | ${r.requests.total} | ${r.requests.average.toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max} | ${r.errors} | ${r.timeouts} | ${r.non2xx} |`;
      console.log(row);
      rows.push(row);
    }
  } finally {
    server.kill('SIGTERM');
  }
  console.log(`\nIndex: ${source}, model ${args.model}, default params; server: \`sbert-train serve\` on 127.0.0.1 (separate process), POST /search k=10.\n`);
  console.log('| phase | connections | duration | requests | req/s | p50 (ms) | p99 (ms) | max (ms) | errors | timeouts | non-2xx |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
} finally {
  rmSync(work, { recursive: true, force: true });
}
