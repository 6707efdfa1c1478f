/**
 * `task: distill`: a small, fast student learns a teacher's sentence embeddings (MSE, as
 * sentence-transformers' distillation examples), then both are scored side by side.
 *
 *   1. The student is model.base, or with `distill.student.layers: [0, 2]` a copy of model.base
 *      that keeps only those transformer layers (DistilBERT-style layer selection).
 *   2. The teacher (`distill.teacher`, default model.base as loaded) embeds every distinct text
 *      of the train / dev / test files once; the run keeps that table in memory.
 *   3. The ordinary training loop (./trainer.ts, either engine) trains the student on the texts
 *      with ../losses/teacher-mse.ts; dev_loss is the MSE to the teacher on the dev texts.
 *   4. Teacher and student are compared on the scored pairs of the test (else dev) file: STS
 *      Spearman and encode speed, printed and written to <run>/distill.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { evaluateSts } from '../evaluation/sts-evaluator.js';
import { createTeacherMseLoss } from '../losses/teacher-mse.js';
import { loadEncoder } from '../models/index.js';
import { readSafetensors, writeSafetensors } from '../models/safetensors.js';
import type { SentenceEncoder } from '../models/sentence-encoder.js';
import { validationSplit } from '../data/split.js';
import type { Recipe } from '../recipe/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { readDataFile, toStsPairs, type DataFingerprints, type Example } from './data.js';
import type { TaskResult } from './tasks.js';
import { train, type TrainOptions } from './trainer.js';

/** Teacher vs student, as written to distill.json. */
export interface DistillComparison {
  /** Which file's scored pairs the STS numbers come from; null when neither dev nor test has scored pairs. */
  stsFile: string | null;
  teacher: ModelFigures;
  student: ModelFigures;
  /** student spearman_cosine / teacher spearman_cosine. */
  fraction: number | null;
  /** student texts per second / teacher texts per second. */
  speedup: number;
}

export interface ModelFigures {
  source: string;
  layers: number;
  dim: number;
  spearman_cosine: number | null;
  /** Seconds to encode `texts` texts, and the rate. */
  encode_seconds: number;
  texts: number;
  texts_per_second: number;
}

export async function runDistill(recipe: Recipe, opts: TrainOptions = {}): Promise<TaskResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const raw = readSplits(recipe);
  const teacher = await loadEncoder(recipe.distill.teacher ?? recipe.model.base, { seed: recipe.training.seed });
  let student: SentenceEncoder | null = null;
  let disposeLoss = () => {};
  try {
    const base = recipe.distill.teacher === null ? teacher : await loadEncoder(recipe.model.base, { seed: recipe.training.seed });
    student = recipe.distill.student.layers === null ? (base === teacher ? await selectLayers(teacher, null) : base) : await selectLayers(base, recipe.distill.student.layers);
    if (base !== teacher && base !== student) base.dispose();
    const studentDim = studentWidth(recipe, student);
    if (studentDim !== teacher.dim) {
      throw new ConfigError(`distill: the student's embeddings are ${studentDim} wide and the teacher's ${teacher.dim}; add model.dense.out_features: ${teacher.dim} to project the student`);
    }

    // Every distinct text once, in a fixed order: the teacher table's rows.
    const rows = new Map<string, number>();
    const toExamples = (set: Example[] | null): Example[] | null => {
      if (set === null) return null;
      const seen = new Set<string>();
      const out: Example[] = [];
      for (const e of set) {
        for (const t of e.texts) {
          if (seen.has(t)) continue;
          seen.add(t);
          if (!rows.has(t)) rows.set(t, rows.size);
          out.push({ texts: [t], label: rows.get(t)! });
        }
      }
      return out;
    };
    let trainTexts = toExamples(raw.train)!;
    let devTexts = toExamples(raw.dev);
    if (recipe.data.validation_split > 0) ({ train: trainTexts, dev: devTexts } = validationSplit(trainTexts, recipe.data.validation_split, recipe.training.seed));
    const testTexts = toExamples(raw.test);
    const texts = [...rows.keys()];
    log(`distill: the teacher (${teacher.source}) embeds ${texts.length} distinct texts once`);
    // No prompt: the student trains on the texts as they are (a model's default prompt applies at use, to both).
    const embedded = await teacher.encode(texts, { batchSize: recipe.evaluation.batch_size, prompt: '' });
    const table = new Float32Array(texts.length * teacher.dim);
    embedded.forEach((e, i) => table.set(e, i * teacher.dim));
    const made = createTeacherMseLoss({ data: table, dim: teacher.dim });
    disposeLoss = made.dispose;

    const prepared = { data: { train: trainTexts, dev: devTexts, test: testTexts, fingerprints: raw.fingerprints }, loss: made.loss, encoder: student };
    student = null; // train() owns it from here (and disposes it)
    const r = await train(recipe, { ...opts, prepared });
    let summary = `dev_loss (MSE to the teacher) ${fmt(r.startMetrics?.dev_loss)} -> ${fmt(r.finalMetrics?.dev_loss)}`;
    if (r.modelDir !== null) {
      const tuned = await loadEncoder(r.modelDir);
      try {
        const cmp = await compare(recipe, teacher, tuned, raw, trainTexts.map((e) => e.texts[0]));
        writeFileAtomic(join(r.runDir, 'distill.json'), JSON.stringify(cmp, null, 2) + '\n');
        log(comparisonTable(cmp));
        summary += `; ${comparisonLine(cmp)}`;
      } finally {
        tuned.dispose();
      }
    }
    return { runDir: r.runDir, modelDir: r.modelDir, steps: r.steps, summary };
  } finally {
    disposeLoss();
    student?.dispose();
    teacher.dispose();
  }
}

/** The recipe's train / dev / test files as read (texts and any scores), with their fingerprints. */
function readSplits(recipe: Recipe): { train: Example[]; dev: Example[] | null; test: Example[] | null; devFile: string | null; testFile: string | null; fingerprints: DataFingerprints } {
  const fingerprints: DataFingerprints = {};
  const load = (key: 'train' | 'dev' | 'test', file: string | null): Example[] | null => {
    if (file === null) return null;
    const r = readDataFile(recipe, key, file, null); // labels only score pairs for the comparison: no loss reads them
    fingerprints[key] = r.fingerprint;
    return r.examples;
  };
  return { train: load('train', recipe.data.train as string)!, /* one file: a list is refused for this task */ dev: load('dev', recipe.data.dev), test: load('test', recipe.data.test), devFile: recipe.data.dev, testFile: recipe.data.test, fingerprints };
}

/** The student's sentence-embedding width once the recipe's Dense (if any) is added. */
function studentWidth(recipe: Recipe, student: SentenceEncoder): number {
  return recipe.model.dense?.out_features ?? student.dim;
}

/**
 * A copy of `encoder` (the student must not share weights with the teacher) that keeps only the
 * transformer layers `layers` (in the order given; null: all),
 * renumbered 0..k-1, with everything else (embeddings, pooling, Dense, Normalize, tokenizer)
 * as it was. Written to a scratch folder in the sentence-transformers layout and loaded back,
 * so the student is an ordinary model folder of the same architecture.
 */
export async function selectLayers(encoder: SentenceEncoder, layers: number[] | null): Promise<SentenceEncoder> {
  const n = encoder.config.numLayers;
  if (layers !== null) {
    const bad = layers.find((l) => l >= n);
    if (bad !== undefined) throw new ConfigError(`distill.student.layers: ${encoder.source} has ${n} layers (0-${n - 1}), got ${bad}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sbert-train-student-'));
  try {
    const folder = join(dir, 'model');
    await encoder.save(folder);
    if (layers !== null) {
      const file = join(folder, 'model.safetensors');
      const kept = new Map<string, { shape: number[]; data: Float32Array }>();
      for (const [name, t] of readSafetensors(file)) {
        const m = /^(.*?\b(?:encoder|transformer)\.layer\.)(\d+)(\..*)$/.exec(name);
        if (!m) {
          kept.set(name, { shape: t.shape, data: t.data });
          continue;
        }
        const at = layers.indexOf(Number(m[2]));
        if (at >= 0) kept.set(`${m[1]}${at}${m[3]}`, { shape: t.shape, data: t.data });
      }
      writeSafetensors(file, kept, { format: 'pt' });
      const cfg = { ...encoder.config.raw } as Record<string, unknown>;
      if ('n_layers' in cfg) cfg.n_layers = layers.length;
      else cfg.num_hidden_layers = layers.length;
      writeFileAtomic(join(folder, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    }
    return await loadEncoder(folder);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function compare(recipe: Recipe, teacher: SentenceEncoder, student: SentenceEncoder, raw: ReturnType<typeof readSplits>, trainTexts: string[]): Promise<DistillComparison> {
  const testPairs = raw.test ? toStsPairs(raw.test) : null;
  const devPairs = raw.dev ? toStsPairs(raw.dev) : null;
  const pairs = testPairs ?? devPairs;
  const stsFile = testPairs ? raw.testFile : devPairs ? raw.devFile : null;
  const speedTexts = trainTexts.slice(0, recipe.distill.speed_texts);
  const figures = async (enc: SentenceEncoder): Promise<ModelFigures> => {
    const sts = pairs ? await evaluateSts(enc, pairs, { batchSize: recipe.evaluation.batch_size, name: '', progress: false }) : null;
    await enc.encode(speedTexts.slice(0, recipe.evaluation.batch_size), { batchSize: recipe.evaluation.batch_size }); // warm-up
    const t0 = performance.now();
    await enc.encode(speedTexts, { batchSize: recipe.evaluation.batch_size });
    const seconds = (performance.now() - t0) / 1000;
    return {
      source: enc.source,
      layers: enc.config.numLayers,
      dim: enc.dim,
      spearman_cosine: sts ? sts.metrics.spearman_cosine : null,
      encode_seconds: seconds,
      texts: speedTexts.length,
      texts_per_second: speedTexts.length / seconds,
    };
  };
  const t = await figures(teacher);
  const s = await figures(student);
  return {
    stsFile,
    teacher: t,
    student: s,
    fraction: t.spearman_cosine !== null && s.spearman_cosine !== null ? s.spearman_cosine / t.spearman_cosine : null,
    speedup: s.texts_per_second / t.texts_per_second,
  };
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits);
}

/** The side-by-side table printed at the end of a run. */
export function comparisonTable(c: DistillComparison): string {
  const row = (label: string, f: ModelFigures) => `${label.padEnd(8)} ${String(f.layers).padStart(6)} ${fmt(f.spearman_cosine).padStart(16)} ${f.texts_per_second.toFixed(1).padStart(14)}`;
  return [
    `distill: teacher vs student${c.stsFile ? ` (STS on ${c.stsFile})` : ' (no scored dev/test pairs: no STS figure)'}, encode speed on ${c.teacher.texts} training texts`,
    `${'model'.padEnd(8)} ${'layers'.padStart(6)} ${'spearman_cosine'.padStart(16)} ${'texts/s'.padStart(14)}`,
    row('teacher', c.teacher),
    row('student', c.student),
  ].join('\n');
}

function comparisonLine(c: DistillComparison): string {
  const sts = c.fraction !== null ? `student spearman_cosine ${fmt(c.student.spearman_cosine)} = ${(100 * c.fraction).toFixed(1)}% of the teacher's ${fmt(c.teacher.spearman_cosine)}, ` : '';
  return `${sts}encodes ${c.speedup.toFixed(2)}x as fast`;
}
