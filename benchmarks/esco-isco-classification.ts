/**
 * task: classification on ESCO: occupation title (preferredLabel) -> ISCO-08 major group (the
 * first digit of iscoGroup: 10 classes, 0 armed forces ... 9 elementary occupations), with
 * builtin:tiny (a random-initialised 2-layer BERT with a byte tokenizer: no pretraining, so the
 * figures show what each mode learns from the labels alone, not what a pretrained model reaches).
 *
 * A seeded stratified split (80% train / 20% test per class), then:
 *   majority       the most frequent training class for every test row (the floor)
 *   full           head: softmax, frozen: false: cross-entropy trains head and encoder, all of train
 *   head-only      head: logistic on frozen embeddings of the base model, all of train
 *   few-shot head  the same logistic head, on `--shots` titles per class drawn from train
 *   few-shot SetFit  setfit (contrastive phase on pairs sampled from those titles), then the logistic head
 *
 *   node --import tsx benchmarks/esco-isco-classification.ts [--shots 8] [--epochs 2] [--lr 1e-4]
 *        [--iterations 20] [--seed 42] [--runs head,few,setfit,full] [--out DIR] [--help]
 *
 * Prints a markdown table (accuracy, macro-F1 on the test split, train rows, wall seconds).
 * Needs ../shared/datasets/esco/occupations_en.csv (skips with the reason when absent).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { initBackend } from '../src/backend/index.js';
import { cell, readTable, resolveColumn } from '../src/data/table.js';
import { shuffleInPlace } from '../src/data/batching.js';
import { toCsv } from '../src/data/csv-write.js';
import { parseRecipe } from '../src/recipe/index.js';
import { trainClassification } from '../src/training/classification.js';
import { classificationMetrics } from '../src/evaluation/classification-metrics.js';

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write(
    'usage: node --import tsx benchmarks/esco-isco-classification.ts [--shots N (8)] [--epochs N (2, full fine-tune)] [--lr X (1e-4, encoder lr of the full fine-tune and SetFit)] [--iterations N (20, SetFit pairs per text)] [--seed N (42)] [--runs head,few,setfit,full] [--out DIR (a temp folder)]\n' +
      'ESCO preferredLabel -> first digit of iscoGroup, builtin:tiny; majority / full / head-only / few-shot head / few-shot SetFit on a seeded 80/20 stratified split.\n',
  );
  process.exit(0);
}
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const shots = flag('shots', 8);
const epochs = flag('epochs', 2);
const iterations = flag('iterations', 20);
const seed = flag('seed', 42);
const lr = flag('lr', 1e-4);
const runsAt = args.indexOf('--runs');
const wanted = new Set((runsAt >= 0 ? args[runsAt + 1] : 'head,few,setfit,full').split(','));
const outAt = args.indexOf('--out');
const work = outAt >= 0 ? args[outAt + 1] : mkdtempSync(join(tmpdir(), 'esco-isco-'));

const esco = join(import.meta.dirname, '..', '..', 'shared', 'datasets', 'esco', 'occupations_en.csv');
if (!existsSync(esco)) {
  process.stdout.write(`skipped: ${esco} is absent\n`);
  process.exit(0);
}

// Data: one row per occupation with an ISCO group; the label is its first digit.
const table = readTable(esco, { format: 'csv', header: true });
const [labelKey, groupKey] = [resolveColumn(table, 'preferredLabel'), resolveColumn(table, 'iscoGroup')];
const rows = table.rows
  .map((r) => ({ text: String(cell(r, labelKey) ?? '').trim(), label: String(cell(r, groupKey) ?? '').trim().slice(0, 1) }))
  .filter((r) => r.text !== '' && /^\d$/.test(r.label));
const rng = seedrandom(`esco-isco:${seed}`);
const byClass = new Map<string, typeof rows>();
for (const r of rows) byClass.set(r.label, [...(byClass.get(r.label) ?? []), r]);
const train: typeof rows = [];
const test: typeof rows = [];
const few: typeof rows = [];
for (const [, members] of [...byClass].sort()) {
  const m = shuffleInPlace([...members], rng);
  const nTest = Math.max(1, Math.round(m.length * 0.2));
  test.push(...m.slice(0, nTest));
  train.push(...m.slice(nTest));
  few.push(...m.slice(nTest, nTest + shots));
}
const write = (name: string, set: typeof rows) => {
  const p = join(work, name);
  writeFileSync(p, toCsv(['text', 'label'], set.map((r) => [r.text, r.label])));
  return p;
};
write('train.csv', train);
write('test.csv', test);
write('few.csv', few);
process.stderr.write(`${rows.length} occupations, ${byClass.size} classes (${[...byClass].sort().map(([l, m]) => `${l}: ${m.length}`).join(', ')}); train ${train.length}, test ${test.length}, few-shot ${few.length}; files in ${work}\n`);

await initBackend('wasm', { quiet: true, training: true });
const labels = [...byClass.keys()].sort();

interface Row {
  run: string;
  rows: number;
  accuracy: number;
  macroF1: number;
  seconds: number;
}
const results: Row[] = [];

// The floor: the most frequent training class.
{
  const counts = new Map<string, number>();
  for (const r of train) counts.set(r.label, (counts.get(r.label) ?? 0) + 1);
  const top = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  const m = classificationMetrics(test.map((r) => labels.indexOf(r.label)), test.map(() => labels.indexOf(top)), labels.length);
  results.push({ run: `majority class ('${top}')`, rows: train.length, accuracy: m.accuracy, macroF1: m.macro_f1, seconds: 0 });
}

async function run(name: string, trainFile: string, classification: Record<string, unknown>, training: Record<string, unknown> = {}): Promise<void> {
  const recipe = parseRecipe(
    {
      task: 'classification',
      name,
      model: { base: 'builtin:tiny' },
      data: { train: trainFile, test: 'test.csv', columns: { texts: ['text'], label: 'label' } },
      optimizer: { lr },
      training: { batch_size: 16, seed, ...training },
      classification: { labels, ...classification },
      output: { dir: join(work, 'runs', name) },
    },
    { baseDir: work },
  );
  const t0 = Date.now();
  const r = await trainClassification(recipe, { progress: false, log: (l) => process.stderr.write(`[${name}] ${l}\n`) });
  const seconds = (Date.now() - t0) / 1000;
  results.push({ run: name, rows: recipe.data.train === join(work, 'few.csv') ? few.length : train.length, accuracy: r.test!.accuracy, macroF1: r.test!.macro_f1, seconds });
  process.stderr.write(`[${name}] test accuracy ${r.test!.accuracy.toFixed(4)}, macro-F1 ${r.test!.macro_f1.toFixed(4)} in ${seconds.toFixed(0)} s\n`);
}

if (wanted.has('head')) await run('head-only (logistic, frozen)', 'train.csv', { head: 'logistic' });
if (wanted.has('few')) await run(`few-shot head-only (${shots}/class, logistic, frozen)`, 'few.csv', { head: 'logistic' });
if (wanted.has('setfit')) await run(`few-shot SetFit (${shots}/class, ${iterations} iterations, lr ${lr}, logistic)`, 'few.csv', { head: 'logistic', setfit: { iterations } });
if (wanted.has('full')) await run(`full fine-tune (softmax, ${epochs} epochs, lr ${lr})`, 'train.csv', { head: 'softmax', frozen: false, head_lr: 1e-3 }, { epochs });

process.stdout.write('| run | train rows | test accuracy | test macro-F1 | wall s |\n| --- | --: | --: | --: | --: |\n');
for (const r of results) process.stdout.write(`| ${r.run} | ${r.rows} | ${r.accuracy.toFixed(4)} | ${r.macroF1.toFixed(4)} | ${r.seconds.toFixed(0)} |\n`);
