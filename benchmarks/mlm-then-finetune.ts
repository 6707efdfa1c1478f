/**
 * Does masked-language-model pretraining on domain text help the Siamese fine-tune? For each
 * seed: (a) `task: mlm` on the ESCO occupation descriptions (../shared) from builtin:tiny,
 * then the quickstart fine-tune (recipes/quickstart.yaml) from that folder; (b) the quickstart
 * fine-tune from builtin:tiny alone, same seed. Prints the quickstart dev spearman_cosine of
 * both, per seed and on average (a markdown table for benchmarks/RESULTS.md).
 *
 *   node --import tsx benchmarks/mlm-then-finetune.ts [--seeds 1,2,3] [--mlm-epochs 3] [--backend auto] [--help]
 *
 * Needs ../shared/datasets/esco (skips with the reason when absent).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write('usage: node --import tsx benchmarks/mlm-then-finetune.ts [--seeds LIST (1,2,3)] [--mlm-epochs N (3)] [--backend NAME (auto)]\n');
  process.exit(0);
}
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const seeds = opt('--seeds', '1,2,3').split(',').map(Number);
const mlmEpochs = Number(opt('--mlm-epochs', '3'));
const backend = opt('--backend', 'auto');
const root = join(import.meta.dirname, '..');
const esco = join(root, '..', 'shared', 'datasets', 'esco', 'occupations_en.csv');
if (!existsSync(esco)) {
  process.stdout.write(`skipped: ${esco} is absent\n`);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), 'mlm-bench-'));
const quick = join(root, 'datasets', 'quickstart');

function run(name: string, yaml: string): { seconds: number; stdout: string } {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'bin', 'sbert-train.js'), file, '--backend', backend], { encoding: 'utf8', env: { ...process.env, SBERT_NO_PROGRESS: '1' } });
  if (r.status !== 0) throw new Error(`${name} failed (exit ${r.status}):\n${r.stderr}`);
  return { seconds: (Date.now() - t0) / 1000, stdout: r.stdout };
}

/** The quickstart recipe with another base model and seed. */
function quickstart(name: string, base: string, seed: number): number {
  const r = run(
    name,
    `model:
  base: ${base}
  max_seq_length: 32
data:
  train: ${join(quick, 'train.csv')}
  dev: ${join(quick, 'dev.csv')}
loss:
  name: cosine_mse
optimizer:
  lr: 0.001
schedule:
  name: linear
  warmup_ratio: 0.05
training:
  epochs: 3
  batch_size: 32
  seed: ${seed}
  checkpoint_every: null
output:
  dir: ${join(dir, name)}
`,
  );
  const m = /([-\d.]+) after/.exec(r.stdout);
  if (!m) throw new Error(`${name}: no dev score in ${r.stdout}`);
  process.stdout.write(`${name}: ${r.seconds.toFixed(0)} s, dev spearman_cosine ${m[1]}\n`);
  return Number(m[1]);
}

const rows: Array<{ seed: number; perplexity: string; withMlm: number; alone: number }> = [];
for (const seed of seeds) {
  const mlm = run(
    `mlm-${seed}`,
    `task: mlm
model:
  base: builtin:tiny
  max_seq_length: 64
data:
  train: ${esco}
  columns:
    texts: [description]
  validation_split: 0.05
optimizer:
  lr: 0.001
schedule:
  warmup_ratio: 0.05
training:
  epochs: ${mlmEpochs}
  batch_size: 32
  seed: ${seed}
evaluation:
  batch_size: 64
output:
  dir: ${join(dir, `mlm-${seed}`)}
`,
  );
  const perplexity = /held-out perplexity ([\d.]+ -> [\d.]+)/.exec(mlm.stdout)?.[1] ?? 'n/a';
  process.stdout.write(`mlm-${seed}: ${mlm.seconds.toFixed(0)} s, held-out perplexity ${perplexity}\n`);
  const withMlm = quickstart(`tune-mlm-${seed}`, join(dir, `mlm-${seed}`, 'model'), seed);
  const alone = quickstart(`tune-alone-${seed}`, 'builtin:tiny', seed);
  rows.push({ seed, perplexity, withMlm, alone });
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
process.stdout.write(
  [
    `backend ${backend}; MLM ${mlmEpochs} epoch(s) on the ESCO descriptions; quickstart fine-tune 3 epochs; dev = datasets/quickstart/dev.csv`,
    '| seed | MLM held-out perplexity | quickstart dev spearman_cosine, MLM first | quickstart alone | difference |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.seed} | ${r.perplexity} | ${r.withMlm.toFixed(4)} | ${r.alone.toFixed(4)} | ${(r.withMlm - r.alone >= 0 ? '+' : '') + (r.withMlm - r.alone).toFixed(4)} |`),
    `| mean | | ${mean(rows.map((r) => r.withMlm)).toFixed(4)} | ${mean(rows.map((r) => r.alone)).toFixed(4)} | ${(mean(rows.map((r) => r.withMlm - r.alone)) >= 0 ? '+' : '') + mean(rows.map((r) => r.withMlm - r.alone)).toFixed(4)} |`,
    `runs in ${dir}`,
  ].join('\n') + '\n',
);
