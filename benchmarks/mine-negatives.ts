/**
 * Does training on mined hard negatives help? ESCO job titles: multiple_negatives_ranking on
 * (preferred label, synonym) pairs vs on the same pairs with one negative each mined by
 * `sbert-train data mine-negatives` with the base model; same model, steps, batch and seed.
 * Both are scored with `sbert-train eval --retrieval` on occupations held out of training:
 * queries are synonyms of held-out occupations, the corpus is every occupation's preferred
 * label, a query's one relevant document is its occupation's.
 *
 *   node --import tsx benchmarks/mine-negatives.ts [--model builtin:tiny] [--steps 150] [--batch 32]
 *     [--held-out 300] [--max-pairs 6000] [--num-negatives 1] [--mine "FLAGS" ...] [--keep DIR]
 *
 * Each --mine gives one mined variant (default two: "--range-max 10", the closest texts that are
 * not positives, and "--margin 0 --range-max 20", only texts scored below the positive); the
 * pairs run is trained once.
 *
 * Every step runs the CLI as a user would (data mine-negatives, the recipe, eval), so the
 * figures are those commands' figures. Needs ../shared/datasets/esco (skips with the reason
 * when absent). A few minutes on 2 quiet cores with the defaults.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { escoPairs, readOccupations, readTable, shuffleInPlace, toCsv } from '../src/data/index.js';

const HELP = `usage: node --import tsx benchmarks/mine-negatives.ts [options]
  --model SPEC          base model, also the mining model (default builtin:tiny)
  --steps N             optimizer steps of each training run (default 150)
  --batch N             batch size (default 32)
  --lr X                learning rate (default 0.001: builtin:tiny starts from random weights)
  --held-out N          occupations held out of training for the retrieval split (default 300)
  --max-pairs N         training pairs, a seeded sample (default 6000)
  --num-negatives N     mined negatives per pair (default 1; triplet rows)
  --mine "FLAGS"        data mine-negatives flags of one mined variant; repeat for more
                        (default: "--range-max 10" and "--margin 0 --range-max 20")
  --seed N              split, sample, mining and training seed (default 42)
  --keep DIR            keep the data, runs and reports in DIR (default: a temp folder, removed)
  --hnsw-check          only mine the training pairs twice, --exact and --hnsw (first variant's flags,
                        --num-negatives 10), and report how many negatives agree; no training
`;

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  process.stdout.write(HELP);
  process.exit(0);
}
function flag(name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}
const model = flag('model', 'builtin:tiny');
const steps = Number(flag('steps', '150'));
const batch = Number(flag('batch', '32'));
const lr = Number(flag('lr', '0.001'));
const heldOut = Number(flag('held-out', '300'));
const maxPairs = Number(flag('max-pairs', '6000'));
const numNegatives = Number(flag('num-negatives', '1'));
const variants = argv.flatMap((a, i) => (a === '--mine' && argv[i + 1] !== undefined ? [argv[i + 1]] : []));
if (variants.length === 0) variants.push('--range-max 10', '--margin 0 --range-max 20');
const seed = Number(flag('seed', '42'));
const keep = argv.includes('--keep') ? flag('keep', '') : null;

const ROOT = join(import.meta.dirname, '..');
const occupationsCsv = join(ROOT, '..', 'shared', 'datasets', 'esco', 'occupations_en.csv');
if (!existsSync(occupationsCsv)) {
  process.stdout.write(`skipped: ${occupationsCsv} is absent\n`);
  process.exit(0);
}
const work = keep ?? mkdtempSync(join(tmpdir(), 'mine-bench-'));
mkdirSync(work, { recursive: true });

/** Run the CLI; progress goes to our stderr, stdout is returned; a failure stops the benchmark. */
function cli(args: string[]): { stdout: string; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'sbert-train.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(r.stdout ?? '');
    throw new Error(`sbert-train ${args.join(' ')} exited ${r.status}`);
  }
  return { stdout: r.stdout, seconds: (Date.now() - t0) / 1000 };
}

// 1. Split occupations: `heldOut` of them (seeded) never appear in training.
const occupations = readOccupations(occupationsCsv);
const order = shuffleInPlace(occupations.map((_, i) => i), seedrandom(`mine-bench:${seed}`));
const held = new Set(order.slice(0, heldOut));
const train = occupations.filter((_, i) => !held.has(i));

// 2. Training pairs: (preferred label, synonym), the score-1 pairs of data esco-pairs.
const rng = seedrandom(`mine-bench-pairs:${seed}`);
const pairs = shuffleInPlace(
  escoPairs(train, { seed }).filter((p) => p.score === 1),
  rng,
).slice(0, maxPairs);
const pairsCsv = join(work, 'train-pairs.csv');
writeFileSync(pairsCsv, toCsv(['anchor', 'positive'], pairs.map((p) => [p.sentence1, p.sentence2])));

// 3. Retrieval split (BEIR layout): up to 2 synonyms of each held-out occupation as queries,
//    every preferred label as the corpus.
const beir = join(work, 'esco-heldout');
mkdirSync(join(beir, 'qrels'), { recursive: true });
writeFileSync(join(beir, 'corpus.jsonl'), occupations.map((o, i) => JSON.stringify({ _id: `o${i}`, text: o.preferred })).join('\n') + '\n');
const queries: string[] = [];
const qrels = ['query-id\tcorpus-id\tscore'];
for (const i of [...held].sort((a, b) => a - b)) {
  occupations[i].alts.slice(0, 2).forEach((alt, j) => {
    queries.push(JSON.stringify({ _id: `q${i}.${j}`, text: alt }));
    qrels.push(`q${i}.${j}\to${i}\t1`);
  });
}
writeFileSync(join(beir, 'queries.jsonl'), queries.join('\n') + '\n');
writeFileSync(join(beir, 'qrels', 'test.tsv'), qrels.join('\n') + '\n');

// HNSW vs exact: the same pairs and flags, both search paths; the share of exact negatives HNSW finds.
if (argv.includes('--hnsw-check')) {
  const rows = (path: string) => {
    const by = new Map<string, Set<string>>();
    for (const r of readTable(path).rows) {
      const [a, p, n] = r.cells as string[];
      const k = `${a}\u0000${p}`;
      (by.get(k) ?? by.set(k, new Set()).get(k)!).add(n);
    }
    return by;
  };
  const flags = ['--num-negatives', '10', ...variants[0].split(/\s+/).filter(Boolean).filter((f, i, all) => f !== '--range-max' && all[i - 1] !== '--range-max'), '--range-max', '30'];
  const runs = (['--exact', '--hnsw'] as const).map((how) => {
    const out = join(work, `check${how}.csv`);
    const r = cli(['data', 'mine-negatives', '--model', model, '--input', pairsCsv, '--out', out, '--force', how, ...flags]);
    return { how, rows: rows(out), ...r };
  });
  const [exact, hnsw] = runs;
  let want = 0;
  let found = 0;
  let same = 0;
  for (const [k, negs] of exact.rows) {
    const got = hnsw.rows.get(k) ?? new Set<string>();
    want += negs.size;
    const hit = [...negs].filter((n) => got.has(n)).length;
    found += hit;
    if (hit === negs.size && got.size === negs.size) same++;
  }
  process.stdout.write(
    `${pairs.length} ESCO training pairs, ${model}, flags ${flags.join(' ')}\n` +
      runs.map((r) => `${r.how} (${r.seconds.toFixed(0)} s): ${r.stdout.trim()}`).join('\n') +
      `\nHNSW found ${found}/${want} of the exact negatives (recall ${(found / want).toFixed(4)}); identical negative lists for ${same}/${exact.rows.size} pairs\n`,
  );
  if (!keep) rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

// 4. Mine negatives with the base model, once per variant.
const mined = variants.map((flags, v) => {
  const out = join(work, `train-mined-${v + 1}.csv`);
  const r = cli(['data', 'mine-negatives', '--model', model, '--input', pairsCsv, '--out', out, '--force', '--num-negatives', String(numNegatives), '--seed', String(seed), ...flags.split(/\s+/).filter(Boolean)]);
  return { flags, out, ...r };
});

// 5. Train: same recipe but for the data and its columns.
function trainOn(name: string, data: string, texts: string[]): { dir: string; seconds: number } {
  const dir = join(work, 'runs', name);
  const recipe = join(work, `${name}.yaml`);
  writeFileSync(
    recipe,
    [
      `name: ${name}`,
      `model: { base: ${JSON.stringify(model)}, max_seq_length: 32 }`,
      `data: { train: ${JSON.stringify(data)}, columns: { texts: [${texts.join(', ')}], label: null } }`,
      'loss: { name: multiple_negatives_ranking }',
      `optimizer: { lr: ${lr} }`,
      'schedule: { name: linear, warmup_ratio: 0.05 }',
      `training: { batch_size: ${batch}, epochs: 1000, max_steps: ${steps}, seed: ${seed}, checkpoint_every: null }`,
      'evaluation: { at_epoch_end: false }',
      `output: { dir: ${JSON.stringify(dir)}, overwrite: true }`,
    ].join('\n') + '\n',
  );
  const { seconds } = cli([recipe]);
  return { dir: join(dir, 'model'), seconds };
}
const runs = [
  { label: `MNRL on pairs (${steps} steps)`, ...trainOn('mnrl-pairs', pairsCsv, ['anchor', 'positive']) },
  ...mined.map((m, v) => ({ label: `MNRL on mined triplets, \`${m.flags}\` (${steps} steps)`, ...trainOn(`mnrl-mined-${v + 1}`, m.out, ['anchor', 'positive', 'negative']) })),
];

// 6. Retrieval on the held-out occupations.
const report = join(work, 'eval');
const evaluated = cli(['eval', '--model', model, ...runs.flatMap((r) => ['--model', r.dir]), '--retrieval', beir, '--out', report, '--json']);
const metrics = JSON.parse(evaluated.stdout) as Record<string, Record<string, number>>;
const pick = (m: Record<string, number>, suffix: string) => Object.entries(m).find(([k]) => k.endsWith(suffix))?.[1] ?? NaN;
const names = Object.keys(metrics);
const labels = [`${model} (base, no training)`, ...runs.map((r) => r.label)];
const lines = [
  `ESCO held-out retrieval: ${queries.length} synonym queries of ${heldOut} held-out occupations, corpus ${occupations.length} preferred labels; ` +
    `train ${pairs.length} pairs of ${train.length} occupations; ${model}, batch ${batch}, lr ${lr}, seed ${seed}`,
  ...mined.map((m) => `mining \`${m.flags}\` (${m.seconds.toFixed(0)} s): ${m.stdout.trim()}`),
  `training: ${runs.map((r) => `${r.label} ${r.seconds.toFixed(0)} s`).join('; ')}`,
  '',
  '| model | recall@10 | MRR@10 | nDCG@10 | accuracy@1 |',
  '|---|---:|---:|---:|---:|',
  ...names.map((n, i) => `| ${labels[i] ?? n} | ${pick(metrics[n], 'recall@10').toFixed(4)} | ${pick(metrics[n], 'mrr@10').toFixed(4)} | ${pick(metrics[n], 'ndcg@10').toFixed(4)} | ${pick(metrics[n], 'accuracy@1').toFixed(4)} |`),
];
process.stdout.write(lines.join('\n') + '\n');
if (!keep) rmSync(work, { recursive: true, force: true });
