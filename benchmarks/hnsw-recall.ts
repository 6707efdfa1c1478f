/**
 * HNSW recall@10 against exact brute-force cosine search, build time and query throughput.
 *
 *   node --import tsx benchmarks/hnsw-recall.ts [--data random|esco|both] [--n 100000]
 *        [--queries 500] [--M 32] [--ef-construction 200] [--efs 50,100,200,400]
 *        [--model builtin:tiny]
 *
 * random: n unit vectors of dim 384 (seeded Gaussian directions) and `queries` fresh ones.
 * esco:   every ESCO occupation text (preferred labels, alternative labels, descriptions:
 *         ~36k) embedded with --model; `queries` of them are held out and used as queries.
 * Prints a markdown table for benchmarks/RESULTS.md. Recall is the ann-benchmarks
 * definition (share of the exact top-10 found), see src/search/exact.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse/sync';
import seedrandom from 'seedrandom';
import { HnswIndex, DEFAULT_PARAMS, calibrateEf, exactSearch, holdOutCount, recallAtK, rowNorms, type Item } from '../src/search/index.js';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: 'both' },
    n: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '500' },
    M: { type: 'string', default: String(DEFAULT_PARAMS.M) },
    'ef-construction': { type: 'string', default: String(DEFAULT_PARAMS.efConstruction) },
    efs: { type: 'string', default: '' },
    model: { type: 'string', default: 'builtin:tiny' },
  },
});

const M = Number(args.M);
const efC = Number(args['ef-construction']);
const efList = args.efs ? args.efs.split(',').map(Number) : [50, 100, 200, 400, 800, 1600];
const nQueries = Number(args.queries);
const K = 10;
const SHARED = join(import.meta.dirname, '..', '..', 'shared');

function randomUnit(n: number, dim: number, rng: () => number): Float32Array[] {
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return Array.from({ length: n }, () => {
    const v = Float32Array.from({ length: dim }, gauss);
    let s = 0;
    for (const x of v) s += x * x;
    s = Math.sqrt(s);
    for (let i = 0; i < dim; i++) v[i] /= s;
    return v;
  });
}

interface Dataset {
  name: string;
  vectors: Float32Array[];
  queries: Float32Array[];
  note: string;
}

function randomDataset(): Dataset {
  const n = Number(args.n);
  const rng = seedrandom('hnsw-recall');
  return { name: `random unit, dim 384, n ${n}`, vectors: randomUnit(n, 384, rng), queries: randomUnit(nQueries, 384, rng), note: 'fresh random queries' };
}

async function escoDataset(): Promise<Dataset | null> {
  const file = join(SHARED, 'datasets', 'esco', 'occupations_en.csv');
  if (!existsSync(file)) {
    console.log(`esco skipped: ${file} is absent`);
    return null;
  }
  const rows = parse(readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[];
  const texts = new Set<string>();
  for (const r of rows) {
    for (const t of [r.preferredLabel, ...(r.altLabels ?? '').split('\n'), r.description]) if (t && t.trim()) texts.add(t.trim());
  }
  const all = [...texts];
  // Hold out every (len / queries)-th text as a query.
  const step = Math.floor(all.length / nQueries);
  const qTexts = all.filter((_, i) => i % step === 0).slice(0, nQueries);
  const held = new Set(qTexts);
  const docs = all.filter((t) => !held.has(t));
  await initBackend('auto');
  const encoder = await loadEncoder(args.model!);
  const t0 = performance.now();
  const vectors = await encoder.encode(docs, { normalize: true, batchSize: 64, progress: true });
  const embedS = (performance.now() - t0) / 1000;
  const queries = await encoder.encode(qTexts, { normalize: true, batchSize: 64 });
  return { name: `ESCO labels + alt labels + descriptions, ${args.model} (dim ${encoder.dim}), n ${docs.length}`, vectors, queries, note: `held-out texts as queries; embedding took ${embedS.toFixed(0)} s (${(docs.length / embedS).toFixed(0)} texts/s)` };
}

function run(d: Dataset): string[] {
  const dim = d.vectors[0].length;
  const items: Item[] = d.vectors.map((_, i) => ({ id: String(i), text: '' }));
  console.log(`\n${d.name}: building (M ${M}, efConstruction ${efC})...`);
  // As `index build` does: hold a strided sample out of the graph, calibrate the default ef
  // on it (src/search/calibrate.ts), then add it.
  let t0 = performance.now();
  const index = HnswIndex.create(dim, { path: 'benchmark', weightsHash: '-' }, { M, efConstruction: efC }, d.vectors.length);
  const s = holdOutCount(d.vectors.length);
  const stride = Math.floor(d.vectors.length / s);
  const isHeld = (i: number) => i % stride === 0 && i / stride < s;
  const order = [...d.vectors.keys()].filter((i) => !isHeld(i));
  const held = [...d.vectors.keys()].filter(isHeld);
  const CH = 10_000;
  for (let st = 0; st < order.length; st += CH) {
    const part = order.slice(st, st + CH);
    index.add(part.map((i) => d.vectors[i]), part.map((i) => items[i]));
    process.stderr.write(`  ${Math.min(st + CH, order.length)}/${d.vectors.length} after ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  const graphS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const calibration = calibrateEf(index, held.map((i) => d.vectors[i]));
  const calibS = (performance.now() - t1) / 1000;
  index.add(held.map((i) => d.vectors[i]), held.map((i) => items[i]));
  console.log(`  calibrated ef ${calibration.ef}: recall ${calibration.recall.toFixed(4)} on ${calibration.queries} held-out items (${calibS.toFixed(1)} s)`);
  const buildS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  // Labels follow insertion order: map them back to dataset rows for the comparison.
  const labelToRow = [...order, ...held];
  const norms = rowNorms(d.vectors);
  const exact = d.queries.map((q) => exactSearch(d.vectors, q, K, { norms }).map((h) => h.index));
  const efs = [...new Set([index.params.ef, ...efList])].sort((a, b) => a - b);
  const exactQps = d.queries.length / ((performance.now() - t0) / 1000);
  const lines = [
    `**${d.name}** (${d.note}; ${d.queries.length} queries; M ${M}, efConstruction ${efC}): build ${buildS.toFixed(1)} s in all (graph ${graphS.toFixed(1)} s, ${(d.vectors.length / graphS).toFixed(0)} vectors/s; ef calibration ${calibS.toFixed(1)} s: ef ${calibration.ef}, held-out recall ${calibration.recall.toFixed(4)}${calibration.reached ? '' : ', target NOT reached'}); exact brute force in JS ${exactQps.toFixed(1)} queries/s.`,
    '',
    '| ef | recall@10 | queries/s | mean latency (ms) |',
    '| ---: | ---: | ---: | ---: |',
  ];
  for (const ef of efs) {
    index.search(d.queries[0], K, ef); // warm
    t0 = performance.now();
    const approx = d.queries.map((q) => index.search(q, K, ef).map((h) => labelToRow[h.label]));
    const s = (performance.now() - t0) / 1000;
    const recall = recallAtK(approx, exact, K);
    lines.push(`| ${ef}${ef === index.params.ef ? ' (calibrated default)' : ''} | ${recall.toFixed(4)} | ${(d.queries.length / s).toFixed(0)} | ${((s * 1000) / d.queries.length).toFixed(2)} |`);
    console.log(lines[lines.length - 1]);
  }
  return lines;
}

const out: string[] = [];
if (args.data === 'random' || args.data === 'both') out.push(...run(randomDataset()), '');
if (args.data === 'esco' || args.data === 'both') {
  const d = await escoDataset();
  if (d) out.push(...run(d), '');
}
console.log('\n' + out.join('\n'));
