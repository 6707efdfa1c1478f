/**
 * Distillation (`task: distill`): a 2-of-4-layer student against its teacher. The teacher is
 * builtin:tiny-l4 fine-tuned on the STS Benchmark train split (cosine_mse); the student keeps
 * layers [0, 2] of it and learns its embeddings (MSE) on the train split's sentences. Prints
 * teacher vs student STSb-test Spearman (cosine) and encode speed, from the run's distill.json.
 *
 *   node --import tsx benchmarks/distill.ts [--epochs N] [--layers 0,2] [--backend auto] [--help]
 *
 * Needs ../shared/datasets/stsb (skips with the reason when absent). Two CLI runs, a few
 * minutes on 2 cores.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write('usage: node --import tsx benchmarks/distill.ts [--epochs N (1)] [--layers LIST (0,2)] [--backend NAME (auto)]\n');
  process.exit(0);
}
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const epochs = Number(opt('--epochs', '1'));
const layers = opt('--layers', '0,2');
const backend = opt('--backend', 'auto');
const root = join(import.meta.dirname, '..');
const stsb = join(root, '..', 'shared', 'datasets', 'stsb');
if (!existsSync(join(stsb, 'sts-train.csv'))) {
  process.stdout.write(`skipped: ${stsb} is absent\n`);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'distill-bench-'));
const data = `  format: tsv
  header: false
  columns:
    texts: [5, 6]
    label: 4
  score_scale: [0, 5]`;
const common = `optimizer:
  lr: 0.001
schedule:
  warmup_ratio: 0.05
training:
  epochs: ${epochs}
  batch_size: 32
  checkpoint_every: null
evaluation:
  batch_size: 64`;

function run(name: string, yaml: string): void {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(root, 'bin', 'sbert-train.js'), file, '--backend', backend], { encoding: 'utf8', env: { ...process.env, SBERT_NO_PROGRESS: '1' } });
  if (r.status !== 0) throw new Error(`${name} failed (exit ${r.status}):\n${r.stderr}`);
  process.stdout.write(`${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s; ${r.stdout.split('\n')[0]}\n`);
}

run(
  'teacher',
  `model:
  base: builtin:tiny-l4
data:
  train: ${join(stsb, 'sts-train.csv')}
  dev: ${join(stsb, 'sts-dev.csv')}
${data}
${common}
output:
  dir: ${join(dir, 'teacher')}
`,
);
run(
  'student',
  `task: distill
model:
  base: ${join(dir, 'teacher', 'model')}
data:
  train: ${join(stsb, 'sts-train.csv')}
  test: ${join(stsb, 'sts-test.csv')}
  validation_split: 0.05
${data}
distill:
  student:
    layers: [${layers}]
${common}
output:
  dir: ${join(dir, 'student')}
`,
);
const c = JSON.parse(readFileSync(join(dir, 'student', 'distill.json'), 'utf8'));
const row = (label: string, f: { layers: number; spearman_cosine: number; texts_per_second: number; encode_seconds: number; texts: number }) =>
  `| ${label} | ${f.layers} | ${f.spearman_cosine.toFixed(4)} | ${f.texts_per_second.toFixed(1)} (${f.texts} texts in ${f.encode_seconds.toFixed(2)} s) |`;
process.stdout.write(
  [
    `backend ${backend}, ${epochs} epoch(s) each, student layers [${layers}] of the teacher; STS on ${c.stsFile}`,
    '| model | layers | STSb test spearman_cosine | encode texts/s |',
    '| --- | --- | --- | --- |',
    row('teacher (builtin:tiny-l4 tuned on STSb train)', c.teacher),
    row('student', c.student),
    `student / teacher: ${(100 * c.fraction).toFixed(1)}% of the Spearman at ${c.speedup.toFixed(2)}x the encode speed`,
    `runs in ${dir}`,
  ].join('\n') + '\n',
);
