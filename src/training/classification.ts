/**
 * task: classification: a classifier head on the sentence embedding (./classification-head.ts),
 * the way SetFit and sentence-transformers users build text classifiers:
 *
 *   head: softmax, frozen: false  full fine-tune: cross-entropy through head and encoder (tfjs)
 *   head: softmax, frozen: true   the encoder embeds every text once; only the head trains
 *   head: logistic                L2-regularised multinomial logistic regression on frozen
 *                                 embeddings (SetFit's default scikit-learn head), fitted full-batch
 *   setfit: true                  first a contrastive fine-tune of the encoder on pairs sampled
 *                                 from the labels (same label 1, different 0; an `embedding` run of
 *                                 ./trainer.ts, in <output.dir>/setfit/ on
 *                                 <output.dir>/setfit-pairs.csv), then the head
 *
 * SetFit: Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts",
 * https://arxiv.org/abs/2209.11055 (pair sampling as its num_iterations: every text gets that
 * many positive and negative partners).
 *
 * The run writes what an embedding run writes (recipe.yaml, metrics.jsonl, report.json/.md/.html
 * with the dev / test metrics, per-class table and confusion-matrix heatmap) and saves the
 * encoder as a sentence-transformers folder with the head in `<model>/classifier/`. A full
 * fine-tune runs the encoder on the engine the backend chose (tfjs, or onnx: its forward and
 * backward in onnxruntime, the head in tfjs); there are no checkpoints (runs are minutes long):
 * --resume is refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { join } from 'node:path';
import { DataError, TrainingAborted, UserError } from '../errors.js';
import { loadLabelledTexts, sortLabels } from '../data/labelled.js';
import { validationSplit } from '../data/split.js';
import { makeBatches, shuffleInPlace } from '../data/batching.js';
import { writeCsvAtomic } from '../data/csv-write.js';
import { loadEncoder, type SentenceEncoder } from '../models/index.js';
import { toVariable } from '../models/transformer.js';
import { balancedClassWeights, classificationMetrics, flatClassificationMetrics, CLASSIFICATION_METRICS, type ClassificationMetrics } from '../evaluation/classification-metrics.js';
import { writeReport, type ModelResults } from '../evaluation/report.js';
import { heatmapSpec } from '../viz/heatmap.js';
import { escapeHtml, renderSvg } from '../viz/render.js';
import { recipeToYaml, type Recipe } from '../recipe/index.js';
import { CLASSIFICATION_SCHEMA, setfitSettings } from '../recipe/classification.js';
import { validateValue } from '../recipe/validate.js';
import { appendFileNamed, writeFileAtomic } from '../util/fs.js';
import { progressBar, type Progress } from '../util/progress.js';
import { AdamOptimizer, adamOptionsOf } from './optimizer.js';
import { makeSchedule, warmupFromRatio } from './schedule.js';
import { clipAsRecipe } from './clip.js';
import { clipHostAsRecipe, copyEngineWeights } from './engine-step.js';
import { HostAdamW } from '../engine/adamw.js';
import { encoderSpec, encoderWeights } from '../engine/onnx/encoder.js';
import { OnnxTrainingEngine } from '../engine/onnx/training.js';
import type { TrainingEngine } from '../engine/index.js';
import { restore, snapshot, type Snapshot } from './weights.js';
import { assertModelDirReplaceable, openRunFolder, planRunFolder } from './run-folder.js';
import { buildEncoder, train, trainableByName, type TrainOptions } from './trainer.js';
import { ClassifierHead, concat, weightedCrossEntropy } from './classification-head.js';
import type { TaskResult } from './tasks.js';

/** A labelled set: texts, their class indices, and where each row is in its file. */
export interface LabelledSet {
  name: string;
  texts: string[];
  y: number[];
}

export interface ClassificationData {
  labels: string[];
  train: LabelledSet;
  dev: LabelledSet | null;
  test: LabelledSet | null;
}

export interface ClassificationResult extends TaskResult {
  labels: string[];
  /** Flat metrics (accuracy, macro_f1, ..., per class) of the saved model, and of the model before training. */
  dev: Record<string, number> | null;
  test: Record<string, number> | null;
  before: { dev: Record<string, number> | null; test: Record<string, number> | null };
  testMetrics: ClassificationMetrics | null;
}

/** Rows listed in a data error; the rest are counted. */
const MAX_LISTED = 5;

/** Read train / dev / test with the recipe's mapping; labels become class indices in `classification.labels` order. */
export function loadClassificationData(recipe: Recipe, log: (l: string) => void = () => {}): ClassificationData {
  const d = recipe.data;
  // A list of training files (mixed datasets) is refused by the recipe rules for this task.
  if (typeof d.train !== 'string') throw new UserError('data.train: task classification reads one training file');
  const read = (key: 'train' | 'dev' | 'test', file: string) => {
    const r = loadLabelledTexts(file, { text: d.columns.texts[0], label: d.columns.label!, format: d.format ?? undefined, header: d.header ?? undefined, onBadRow: d.on_bad_row });
    for (const w of r.warnings) log(w);
    return { key, file, ...r };
  };
  let train = read('train', d.train);
  let dev = d.dev ? read('dev', d.dev) : null;
  const test = d.test ? read('test', d.test) : null;
  if (d.validation_split > 0) {
    const idx = train.texts.map((_, i) => i);
    const split = validationSplit(idx, d.validation_split, recipe.training.seed);
    const pick = (is: number[]) => ({ texts: is.map((i) => train.texts[i]), labels: is.map((i) => train.labels[i]), lines: is.map((i) => train.lines[i]) });
    dev = { key: 'dev', file: `${d.train} (validation_split)`, warnings: [], ...pick(split.dev) };
    train = { ...train, ...pick(split.train) };
  }
  const given = recipe.classification.labels;
  const labels = given ?? sortLabels(train.labels);
  if (labels.length < 2) throw new DataError(`data.train ${d.train}: every row has the label '${labels[0]}'; a classifier needs at least 2 classes`);
  const index = new Map(labels.map((l, i) => [l, i]));
  const toSet = (r: typeof train): LabelledSet => {
    const unknown = r.labels.map((l, i) => (index.has(l) ? null : `${r.file}:${r.lines[i]} ('${l}')`)).filter((x): x is string => x !== null);
    if (unknown.length) {
      const listed = unknown.slice(0, MAX_LISTED).join('; ') + (unknown.length > MAX_LISTED ? `; ... ${unknown.length - MAX_LISTED} more` : '');
      const from = given ? 'classification.labels' : `the labels of data.train`;
      throw new DataError(`data.${r.key}: ${unknown.length} row(s) with a label not in ${from} (${labels.join(', ')}): ${listed}`);
    }
    return { name: r.key, texts: r.texts, y: r.labels.map((l) => index.get(l)!) };
  };
  const out = { labels, train: toSet(train), dev: dev ? toSet(dev) : null, test: test ? toSet(test) : null };
  const missing = labels.filter((_, c) => !out.train.y.includes(c));
  if (missing.length) log(`warning: classification.labels ${missing.join(', ')} never occur in the training data; the head cannot learn them`);
  return out;
}

/** Class weights as a vector in class order, or null. */
export function classWeightVector(recipe: Recipe, data: ClassificationData): number[] | null {
  const cw = recipe.classification.class_weights;
  if (cw === null) return null;
  if (cw === 'balanced') return balancedClassWeights(data.train.y, data.labels.length);
  const unknown = Object.keys(cw).filter((k) => !data.labels.includes(k));
  if (unknown.length) throw new DataError(`classification.class_weights.${unknown[0]}: no such label (labels: ${data.labels.join(', ')})`);
  return data.labels.map((l) => cw[l] ?? 1);
}

/**
 * SetFit's pair sampling: for each of `iterations` rounds, every training text is paired with a
 * random text of the same label (score 1) and one of another label (score 0). Seeded.
 */
export function setfitPairs(set: LabelledSet, iterations: number, seed: number): Array<[string, string, number]> {
  const rng = seedrandom(`setfit-pairs:${seed}`);
  const byClass = new Map<number, number[]>();
  set.y.forEach((c, i) => byClass.set(c, [...(byClass.get(c) ?? []), i]));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)];
  const pairs: Array<[string, string, number]> = [];
  for (let it = 0; it < iterations; it++) {
    for (let i = 0; i < set.texts.length; i++) {
      const same = byClass.get(set.y[i])!;
      pairs.push([set.texts[i], set.texts[pick(same)], 1]);
      let j = Math.floor(rng() * set.texts.length);
      // Another label exists (at least 2 classes); draw until one is hit.
      while (set.y[j] === set.y[i]) j = Math.floor(rng() * set.texts.length);
      pairs.push([set.texts[i], set.texts[j], 0]);
    }
  }
  return shuffleInPlace(pairs, rng);
}

/** The contrastive phase: an embedding run of ./trainer.ts on the sampled pairs, in <output.dir>/setfit. */
async function setfitPhase(recipe: Recipe, data: ClassificationData, opts: TrainOptions, log: (l: string) => void): Promise<SentenceEncoder> {
  const sf = setfitSettings(recipe)!;
  const dir = join(recipe.output.dir, 'setfit');
  const pairsFile = join(recipe.output.dir, 'setfit-pairs.csv');
  const pairs = setfitPairs(data.train, sf.iterations, recipe.training.seed);
  const sub: Recipe = structuredClone(recipe);
  sub.name = `${recipe.name}-setfit`;
  sub.task = 'embedding';
  sub.loss = { ...recipe.loss, name: sf.loss, margin: null, scale: null, distance: null };
  sub.data = { ...recipe.data, train: pairsFile, dev: null, test: null, columns: { texts: ['sentence1', 'sentence2'], label: 'score' }, format: 'csv', header: true, score_scale: null, validation_split: 0 };
  sub.training = { ...recipe.training, epochs: sf.epochs, max_steps: null, no_duplicates: false, mini_batch_size: null };
  sub.evaluation = { ...recipe.evaluation, every_steps: null, monitor: 'dev_loss', mode: 'min', early_stopping: { patience: null, min_delta: 0 } };
  sub.output = { ...recipe.output, dir, model_dir: join(dir, 'model'), overwrite: false };
  // An embedding recipe holds the classification defaults (its recipe.yaml then validates as written).
  sub.classification = validateValue({}, CLASSIFICATION_SCHEMA, 'classification', []) as Recipe['classification'];
  writeCsvAtomic(pairsFile, ['sentence1', 'sentence2', 'score'], pairs);
  log(`setfit: ${pairs.length} pairs (${sf.iterations} iterations x ${data.train.texts.length} texts x positive + negative), loss ${sf.loss}, ${sf.epochs} epoch(s)`);
  const r = await train(sub, { ...opts, resume: false, log });
  log(`setfit: contrastive phase done in ${r.steps} steps (loss ${r.losses[0]?.toFixed(4)} -> ${r.losses.at(-1)?.toFixed(4)})`);
  const enc = await loadEncoder(r.modelDir!);
  const f = recipe.training.freeze;
  if (f.embeddings || f.layers > 0) enc.freeze({ embeddings: f.embeddings, layers: f.layers });
  return enc;
}

/** Embeddings of `texts` by the tfjs forward pass (the weights being trained; no inference engine copy). */
async function embedTf(encoder: SentenceEncoder, texts: string[], batchSize: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < texts.length; s += batchSize) {
    const e = encoder.forward(encoder.tokenize(texts.slice(s, s + batchSize)));
    const data = (await e.data()) as Float32Array;
    e.dispose();
    for (let r = 0; r < e.shape[0]; r++) out.push(data.slice(r * encoder.dim, (r + 1) * encoder.dim));
  }
  return out;
}

/** Predictions and every metric of `head` on embedded rows, plus the (weighted) cross-entropy as dev_loss. */
async function scoreSet(head: ClassifierHead, emb: Float32Array[], y: number[], labels: string[], weights: number[] | null): Promise<{ flat: Record<string, number>; full: ClassificationMetrics }> {
  const probs = await head.predictProba(emb);
  const pred = probs.map((p) => p.indexOf(Math.max(...p)));
  const full = classificationMetrics(y, pred, labels.length);
  const lossT = tf.tidy(() => {
    const logits = head.logits(tf.tensor2d(concat(emb), [emb.length, head.config.in_features]));
    return weightedCrossEntropy(logits, tf.tensor1d(y, 'int32'), weights ? tf.tensor1d(weights) : null);
  });
  const loss = (await lossT.data())[0];
  lossT.dispose();
  return { flat: { ...flatClassificationMetrics(full, labels), dev_loss: loss }, full };
}

/** Only the aggregates (and dev_loss) go to metrics.jsonl and the curves; per-class metrics to the final report. */
function aggregates(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter(([k]) => (CLASSIFICATION_METRICS as readonly string[]).includes(k) || k === 'dev_loss'));
}

/**
 * Multinomial logistic regression on fixed embeddings, as scikit-learn's
 * LogisticRegression(C) objective divided by n: mean_i s_i CE_i + ||W||^2 / (2 C n) (s_i the
 * class weight of row i; the bias is not penalised). Convex: fitted full-batch with Adam, lr
 * 0.05 halving every 250 steps (a fixed rate circles the minimum), until the objective moves by
 * less than 1e-9 (relative) for 10 steps, at most 2000 steps.
 */
export async function fitLogistic(head: ClassifierHead, emb: Float32Array[], y: number[], weights: number[] | null, c: number): Promise<{ steps: number; objective: number }> {
  const n = emb.length;
  const X = tf.tensor2d(concat(emb), [n, head.config.in_features]);
  const Y = tf.tensor1d(y, 'int32');
  const s = tf.tensor1d(weights ? y.map((l) => weights[l]) : y.map(() => 1));
  const vars = head.named();
  const opt = new AdamOptimizer({ decoupled: false, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 });
  let prev = Infinity;
  let calm = 0;
  let steps = 0;
  let objective = NaN;
  try {
    for (; steps < 2000 && calm < 10; steps++) {
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() => {
          const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(Y, head.config.out_features), tf.logSoftmax(head.logits(X))), 1));
          return tf.add(tf.mean(tf.mul(s, nll)), tf.div(tf.sum(tf.square(head.weight)), 2 * c * n)) as tf.Scalar;
        }),
      );
      objective = (await value.data())[0];
      value.dispose();
      const named = new Map<string, tf.Tensor>([...vars].map(([k, v]) => [k, grads[v.name]]));
      opt.apply(vars, named, 0.05 * 0.5 ** (steps / 250));
      for (const g of Object.values(grads)) g.dispose();
      calm = Math.abs(prev - objective) <= 1e-9 * Math.max(1, Math.abs(objective)) ? calm + 1 : 0;
      prev = objective;
    }
  } finally {
    X.dispose();
    Y.dispose();
    s.dispose();
    opt.dispose();
  }
  return { steps, objective };
}

/** Train a classifier as the recipe says (task: classification). */
export async function trainClassification(recipe: Recipe, opts: TrainOptions = {}): Promise<ClassificationResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (opts.resume) throw new UserError('--resume: task classification writes no checkpoints (its runs are short); run it again (output.overwrite: true replaces the run)');
  const c = recipe.classification;
  const frozen = c.frozen!;
  const runDir = recipe.output.dir;
  const metricsFile = join(runDir, 'metrics.jsonl');
  const plan = planRunFolder(recipe, false);
  for (const note of plan.notes) log(note);
  const data = loadClassificationData(recipe, log);
  const weights = classWeightVector(recipe, data);
  const k = data.labels.length;
  const previous = openRunFolder(recipe, plan, log);
  try {
    writeFileAtomic(join(runDir, 'recipe.yaml'), recipeToYaml(recipe));
    writeFileAtomic(metricsFile, '');
    const record = (row: Record<string, unknown>) => appendFileNamed(metricsFile, `${JSON.stringify(row)}\n`);
    const baseEncoder = setfitSettings(recipe) === null ? await buildEncoder(recipe) : null;
    const encoder = baseEncoder ?? (await setfitPhase(recipe, data, opts, log));
    const head = new ClassifierHead({ labels: data.labels, head: c.head, in_features: encoder.dim, out_features: k }, undefined, recipe.training.seed + 7);
    const evalBs = recipe.evaluation.batch_size;

    // Frozen: every text is embedded once, by the inference engine the backend chose.
    const cache = new Map<LabelledSet, Float32Array[]>();
    const embed = async (set: LabelledSet): Promise<Float32Array[]> => {
      if (!frozen) return embedTf(encoder, set.texts, evalBs);
      if (!cache.has(set)) cache.set(set, await encoder.encode(set.texts, { batchSize: evalBs, progress: opts.progress }));
      return cache.get(set)!;
    };
    const score = async (set: LabelledSet) => scoreSet(head, await embed(set), set.y, data.labels, weights);

    const before = { dev: data.dev ? (await score(data.dev)).flat : null, test: data.test ? (await score(data.test)).flat : null };
    if (before.dev) {
      record({ type: 'eval', step: 0, epoch: 0, ...aggregates(before.dev) });
      log(`dev before training (untrained head): ${recipe.evaluation.monitor} ${before.dev[recipe.evaluation.monitor].toFixed(4)}`);
    }

    let steps = 0;
    let best: { step: number; value: number; snap: Snapshot | null } | null = null;
    const all = new Map<string, tf.Variable>([...(frozen ? [] : [...trainableByName(encoder, encoder.namedWeights())]), ...[...head.named()].map(([n, v]) => [`classifier.${n}`, v] as const)]);
    if (c.head === 'logistic') {
      const emb = await embed(data.train);
      const fit = await fitLogistic(head, emb, data.train.y, weights, c.logistic_c);
      steps = fit.steps;
      record({ type: 'train', step: steps, epoch: 1, loss: fit.objective, time: new Date().toISOString() });
      log(`logistic head: objective ${fit.objective.toFixed(5)} after ${fit.steps} full-batch steps`);
    } else {
      ({ steps, best } = await softmaxLoop(recipe, data, encoder, head, all, weights, frozen, embed, score, record, opts, log));
    }
    if (best?.snap && recipe.evaluation.keep_best) {
      restore(all, best.snap);
      log(`kept the best dev ${recipe.evaluation.monitor} ${best.value.toFixed(4)} (step ${best.step})`);
    }
    const devScore = data.dev ? await score(data.dev) : null;
    const testScore = data.test ? await score(data.test) : null;
    let modelDir: string | null = null;
    if (!opts.skipSave) {
      modelDir = recipe.output.model_dir;
      assertModelDirReplaceable(modelDir);
      await encoder.save(modelDir, { readme: modelCard(recipe, data, devScore?.flat ?? null, testScore?.flat ?? null) });
      await head.save(modelDir);
      await writeClassificationReport(recipe, data, metricsFile, before, devScore, testScore, steps);
      log(`saved the classifier (encoder + ${modelDir}/classifier) to ${modelDir}`);
    }
    previous?.discard(log);
    const m = recipe.evaluation.monitor;
    const fmt = (x: Record<string, number> | null | undefined) => (x && m in x ? x[m].toFixed(4) : 'n/a');
    const summary = `${data.dev ? `dev ${m}: ${fmt(before.dev)} before, ${fmt(devScore?.flat)} after` : 'no dev set'}${testScore ? `; test accuracy ${testScore.flat.accuracy.toFixed(4)}, macro-F1 ${testScore.flat.macro_f1.toFixed(4)}` : ''}`;
    return { runDir, modelDir, steps, summary, labels: data.labels, dev: devScore?.flat ?? null, test: testScore?.flat ?? null, before, testMetrics: testScore?.full ?? null };
  } catch (e) {
    previous?.putBack(log);
    throw e;
  }
}

type Embed = (set: LabelledSet) => Promise<Float32Array[]>;
type Score = (set: LabelledSet) => Promise<{ flat: Record<string, number>; full: ClassificationMetrics }>;

/** The softmax head's loop: batches of the training texts, cross-entropy, Adam for encoder (optimizer.lr) and head (head_lr). */
async function softmaxLoop(
  recipe: Recipe,
  data: ClassificationData,
  encoder: SentenceEncoder,
  head: ClassifierHead,
  all: Map<string, tf.Variable>,
  weights: number[] | null,
  frozen: boolean,
  embed: Embed,
  score: Score,
  record: (row: Record<string, unknown>) => void,
  opts: TrainOptions,
  log: (l: string) => void,
): Promise<{ steps: number; best: { step: number; value: number; snap: Snapshot | null } | null }> {
  const c = recipe.classification;
  const t = recipe.training;
  const ev = recipe.evaluation;
  const examples = data.train.texts.map((text, i) => ({ texts: [text], i }));
  const epochs = c.head_epochs!;
  const perEpoch = Math.ceil(examples.length / t.batch_size);
  const total = Math.min(t.max_steps ?? Infinity, perEpoch * epochs);
  const warmup = recipe.schedule.warmup_ratio !== null ? warmupFromRatio(recipe.schedule.warmup_ratio, total) : recipe.schedule.warmup_steps;
  const encLr = makeSchedule(recipe.schedule.name, recipe.optimizer.lr, warmup, total);
  const headLr = makeSchedule(recipe.schedule.name, c.head_lr, warmup, total);
  const adam = adamOptionsOf(recipe);
  const encVars = new Map([...all].filter(([n]) => !n.startsWith('classifier.')));
  const headVars = new Map([...all].filter(([n]) => n.startsWith('classifier.')));
  const encOpt = new AdamOptimizer(adam);
  const headOpt = new AdamOptimizer(adam);
  const trainEmb = frozen ? await embed(data.train) : null;
  // engine 'onnx': the encoder's forward and backward run in onnxruntime (as ./engine-step.ts), the head stays in tfjs.
  const encTrainable = new Set(encVars.keys());
  const engine = !frozen && opts.engine === 'onnx' ? await OnnxTrainingEngine.create(encoderSpec(encoder), await encoderWeights(encoder), new HostAdamW(adam), { threads: opts.threads, provider: opts.provider }) : null;
  if (engine) log(`training the encoder on the onnx engine (${opts.threads ?? 'default'} threads), the head on tfjs`);
  /** The weights being trained live in the engine: copy them to the encoder before it is read. */
  const sync = () => engine && copyEngineWeights(engine, encoder.namedWeights());
  const w = weights ? tf.tensor1d(weights) : null;
  const bar: Progress = opts.progress === false ? { update() {}, stop() {} } : progressBar('train', total, 'steps', ' | epoch {epoch} | loss {loss}');
  let step = 0;
  let best: { step: number; value: number; snap: Snapshot | null } | null = null;
  let bad = 0;
  let stop = false;
  const better = (v: number, b: number) => (ev.mode === 'max' ? v > b + ev.early_stopping.min_delta : v < b - ev.early_stopping.min_delta);
  const evaluate = async (epoch: number): Promise<boolean> => {
    if (!data.dev) return false;
    sync();
    const m = (await score(data.dev)).flat;
    record({ type: 'eval', step, epoch, ...aggregates(m) });
    const v = m[ev.monitor];
    const improved = best === null || better(v, best.value);
    if (improved) {
      best = { step, value: v, snap: ev.keep_best ? await snapshot(all) : null };
      bad = 0;
    } else bad += 1;
    opts.onEval?.({ step, epoch, metrics: m, improved });
    log(`step ${step} (epoch ${epoch}): dev ${ev.monitor} ${v.toFixed(4)}${improved ? ' (best)' : ''}`);
    return ev.early_stopping.patience !== null && bad >= ev.early_stopping.patience;
  };
  try {
    for (let epoch = 0; epoch < epochs && !stop; epoch++) {
      const batches = makeBatches(examples, t.batch_size, { shuffle: t.shuffle, seed: t.seed, epoch });
      for (const batch of batches) {
        if (opts.signal?.aborted) throw new TrainingAborted(`interrupted at step ${step}; task classification keeps no checkpoints, so nothing was saved`);
        const texts = batch.map((e) => e.texts[0]);
        const yT = tf.tensor1d(batch.map((e) => data.train.y[e.i]), 'int32');
        const lrs = { encoder: encLr.lrAt(step), head: headLr.lrAt(step) };
        const { loss: lossV, norm } = engine
          ? await onnxStep(engine, encoder, head, headVars, headOpt, texts, yT, w, encTrainable, recipe, lrs, step)
          : await tfjsStep(() => (trainEmb ? tf.tensor2d(concat(batch.map((e) => trainEmb[e.i])), [batch.length, encoder.dim]) : encoder.forward(encoder.tokenize(texts))), head, yT, w, all, encOpt, headOpt, recipe, lrs, step);
        yT.dispose();
        step += 1;
        opts.onStep?.({ step, epoch: epoch + 1, loss: lossV, lr: headLr.lrAt(step - 1), gradNorm: norm });
        if (step % t.log_every === 0 || step === 1) record({ type: 'train', step, epoch: epoch + 1, loss: lossV, lr: headLr.lrAt(step - 1), grad_norm: norm, time: new Date().toISOString() });
        bar.update(step, { epoch: epoch + 1, loss: lossV.toFixed(4) });
        if (ev.every_steps !== null && step % ev.every_steps === 0) stop = (await evaluate(epoch + 1)) || stop;
        if (step >= total) stop = true;
        if (stop) break;
      }
      if (ev.at_epoch_end && !(ev.every_steps !== null && step % ev.every_steps === 0)) stop = (await evaluate(epoch + 1)) || stop;
    }
    sync();
  } finally {
    bar.stop();
    await engine?.release();
    w?.dispose();
    encOpt.dispose();
    headOpt.dispose();
  }
  return { steps: step, best };
}

type Lrs = { encoder: number; head: number };

/** Refuse a step whose loss or gradient norm is not finite (before any update). */
function checkFinite(loss: number, norm: number, step: number): void {
  if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
    throw new TrainingAborted(`loss is ${loss} (gradient norm ${norm}) at step ${step + 1}; training stopped, nothing saved; lower optimizer.lr / classification.head_lr or set optimizer.clip_grad_norm`);
  }
}

/** One step on tfjs: cross-entropy of the head on `embed()`'s rows, gradients of every weight in `all`, clipped together. */
async function tfjsStep(
  embed: () => tf.Tensor2D,
  head: ClassifierHead,
  y: tf.Tensor1D,
  w: tf.Tensor1D | null,
  all: Map<string, tf.Variable>,
  encOpt: AdamOptimizer,
  headOpt: AdamOptimizer,
  recipe: Recipe,
  lrs: Lrs,
  step: number,
): Promise<{ loss: number; norm: number }> {
  const nameOf = new Map([...all].map(([n, v]) => [v.name, n]));
  const { value, grads } = tf.variableGrads(() => tf.tidy(() => weightedCrossEntropy(head.logits(embed()), y, w)), [...all.values()]);
  const { grads: named, norm: normT } = clipAsRecipe(new Map<string, tf.Tensor>(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g])), recipe.optimizer);
  const [loss, norm] = [(await value.data())[0], (await normT.data())[0]];
  tf.dispose([value, normT]);
  try {
    checkFinite(loss, norm, step);
    const pick = (head: boolean) => new Map([...named].filter(([n]) => n.startsWith('classifier.') === head));
    const encGrads = pick(false);
    if (encGrads.size) encOpt.apply(new Map([...all].filter(([n]) => encGrads.has(n))), encGrads, lrs.encoder);
    const headGrads = pick(true);
    headOpt.apply(new Map([...all].filter(([n]) => headGrads.has(n))), headGrads, lrs.head);
  } finally {
    for (const g of named.values()) g.dispose();
  }
  return { loss, norm };
}

/**
 * One step with the encoder on the onnx training engine: its forward gives the embeddings, tfjs
 * the head's loss with gradients of the head and of the embeddings, the engine's backward the
 * encoder's gradients from d loss / d embeddings. Both sets are clipped together (global norm,
 * or each tensor with clip_scope per_variable), then each optimizer steps its own weights.
 */
async function onnxStep<S>(
  engine: TrainingEngine<S>,
  encoder: SentenceEncoder,
  head: ClassifierHead,
  headVars: Map<string, tf.Variable>,
  headOpt: AdamOptimizer,
  texts: string[],
  y: tf.Tensor1D,
  w: tf.Tensor1D | null,
  trainable: Set<string>,
  recipe: Recipe,
  lrs: Lrs,
  step: number,
): Promise<{ loss: number; norm: number }> {
  const out = await engine.forward(encoder.tokenize(texts));
  const emb = toVariable(out.embeddings, [texts.length, engine.dim]) as tf.Variable<tf.Rank.R2>;
  const nameOf = new Map([...headVars].map(([n, v]) => [v.name, n]));
  const { value, grads } = tf.variableGrads(() => tf.tidy(() => weightedCrossEntropy(head.logits(emb), y, w)), [...headVars.values(), emb]);
  const loss = (await value.data())[0];
  const dEmb = (await grads[emb.name].data()) as Float32Array;
  const encGrads = await engine.backward(out.saved, dEmb);
  for (const name of [...encGrads.keys()]) if (!trainable.has(name)) encGrads.delete(name); // frozen layers get gradients too; neither clipped nor stepped
  const headGrads = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) if (k !== emb.name) headGrads.set(nameOf.get(k)!, (await g.data()) as Float32Array);
  tf.dispose([value, emb, ...Object.values(grads)]);
  // One map over both sets (keys kept apart), clipped in place: the arrays are those stepped below.
  const all = new Map([...[...encGrads].map(([n, g]) => [`encoder/${n}`, g] as const), ...[...headGrads].map(([n, g]) => [`head/${n}`, g] as const)]);
  const norm = clipHostAsRecipe(all, recipe.optimizer);
  checkFinite(loss, norm, step);
  engine.step(encGrads, lrs.encoder);
  const headTensors = new Map([...headGrads].map(([n, g]) => [n, tf.tensor(g, headVars.get(n)!.shape)] as const));
  headOpt.apply(headVars, headTensors, lrs.head);
  tf.dispose([...headTensors.values()]);
  return { loss, norm };
}

/** Row-normalised confusion matrix (each true class sums to 1; a class with no rows stays 0). */
export function rowShares(confusion: number[][]): number[][] {
  return confusion.map((row) => {
    const n = row.reduce((a, v) => a + v, 0);
    return row.map((v) => (n === 0 ? 0 : v / n));
  });
}

async function writeClassificationReport(
  recipe: Recipe,
  data: ClassificationData,
  metricsFile: string,
  before: { dev: Record<string, number> | null; test: Record<string, number> | null },
  dev: { flat: Record<string, number>; full: ClassificationMetrics } | null,
  test: { flat: Record<string, number>; full: ClassificationMetrics } | null,
  steps: number,
): Promise<void> {
  const { historyFromMetrics } = await import('./run-report.js');
  const monitor = recipe.evaluation.monitor;
  // The loss row reads "cross_entropy" in both tables (as "dev_loss" it would print as "loss" under dev and "dev_loss" under test).
  const renamed = (m: Record<string, number>) => Object.fromEntries(Object.entries(aggregates(m)).map(([k, v]) => [k === 'dev_loss' ? 'cross_entropy' : k, v]));
  const res = (name: string, m: Record<string, number>) => ({ name, metrics: renamed(m), primaryMetric: monitor === 'dev_loss' ? 'cross_entropy' : monitor });
  const models: ModelResults[] = [];
  const b = [before.dev && res('dev', before.dev), before.test && res('test', before.test)].filter((x) => !!x) as ReturnType<typeof res>[];
  if (b.length) models.push({ model: `${recipe.model.base} (untrained head)`, results: b });
  const a = [dev && res('dev', dev.flat), test && res('test', test.flat)].filter((x) => !!x) as ReturnType<typeof res>[];
  if (a.length) models.push({ model: 'tuned', results: a });
  const sections: Array<{ title: string; markdown: string; html: string }> = [];
  const shown = test ? { name: 'test', s: test } : dev ? { name: 'dev', s: dev } : null;
  if (shown) {
    const { full } = shown.s;
    const perClassMd = ['| class | precision | recall | F1 | support |', '|:--|--:|--:|--:|--:|', ...full.perClass.map((p, i) => `| ${data.labels[i]} | ${p.precision.toFixed(4)} | ${p.recall.toFixed(4)} | ${p.f1.toFixed(4)} | ${p.support} |`)].join('\n');
    const perClassHtml = `<table><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead><tbody>${full.perClass
      .map((p, i) => `<tr><td>${escapeHtml(data.labels[i])}</td><td class="num">${p.precision.toFixed(4)}</td><td class="num">${p.recall.toFixed(4)}</td><td class="num">${p.f1.toFixed(4)}</td><td class="num">${p.support}</td></tr>`)
      .join('')}</tbody></table>`;
    sections.push({ title: `Per class (${shown.name})`, markdown: perClassMd, html: perClassHtml });
    const cmMd = [`| true \\ predicted | ${data.labels.join(' | ')} |`, `|:--|${data.labels.map(() => '--:').join('|')}|`, ...full.confusion.map((row, i) => `| ${data.labels[i]} | ${row.join(' | ')} |`)].join('\n');
    const svg = await renderSvg(
      heatmapSpec(data.labels, [{ model: shown.name, matrix: rowShares(full.confusion) }], {
        title: 'Rows: true class; cells: share of its rows predicted as each class',
        valueTitle: 'share of true class',
        axisTitles: { x: 'predicted', y: 'true' },
        cell: data.labels.length > 12 ? 28 : 40,
      }),
    );
    sections.push({ title: `Confusion matrix (${shown.name})`, markdown: `Counts:\n\n${cmMd}\n\nHeatmap (rows normalised): see report.html.`, html: `<figure>${svg}</figure>` });
  }
  await writeReport(recipe.output.dir, {
    title: `Training run: ${recipe.name} (classification)`,
    models,
    history: historyFromMetrics(metricsFile),
    sections,
    meta: {
      model: recipe.model.base,
      task: 'classification',
      head: recipe.classification.head,
      frozen_encoder: String(recipe.classification.frozen),
      setfit: recipe.classification.setfit === false ? 'no' : JSON.stringify(recipe.classification.setfit),
      classes: data.labels.length,
      train_rows: data.train.texts.length,
      steps,
      monitor,
      updated: new Date().toISOString(),
    },
  });
}

/** The model folder's README: what the classifier is and how to load it. */
function modelCard(recipe: Recipe, data: ClassificationData, dev: Record<string, number> | null, test: Record<string, number> | null): string {
  const f = (m: Record<string, number> | null, k: string) => (m && k in m ? m[k].toFixed(4) : 'n/a');
  return `---
library_name: sentence-transformers
pipeline_tag: text-classification
tags: [sbert-train, text-classification${recipe.classification.setfit !== false ? ', setfit' : ''}]
---

# ${recipe.name}

A text classifier trained with sbert-train (task: classification) from \`${recipe.model.base}\`:
the sentence encoder (this folder, sentence-transformers layout) and a ${recipe.classification.head} head on its
embeddings in \`classifier/\` (model.safetensors: \`linear.weight\` [classes, dim], \`linear.bias\`; config.json: the labels in class order).

Classes (${data.labels.length}): ${data.labels.join(', ')}

| set | accuracy | macro F1 |
| --- | --: | --: |
| dev | ${f(dev, 'accuracy')} | ${f(dev, 'macro_f1')} |
| test | ${f(test, 'accuracy')} | ${f(test, 'macro_f1')} |

Usage (Node): \`const c = await loadClassifier(dir); await c.predict(['some text'])\` (from sbert-train).
In Python, \`SentenceTransformer(dir)\` loads the encoder; the head is \`logits = emb @ W.T + b\`.
`;
}

/** A saved classifier: the encoder and its head, with predict / predictProba over texts. */
export interface Classifier {
  encoder: SentenceEncoder;
  head: ClassifierHead;
  labels: string[];
  predictProba(texts: string[]): Promise<Float32Array[]>;
  predict(texts: string[]): Promise<string[]>;
}

export async function loadClassifier(dir: string): Promise<Classifier> {
  const head = ClassifierHead.load(dir);
  const encoder = await loadEncoder(dir);
  if (encoder.dim !== head.config.in_features) throw new DataError(`${dir}: the classifier head takes ${head.config.in_features}-d embeddings, the encoder gives ${encoder.dim}`);
  const predictProba = async (texts: string[]) => head.predictProba(await encoder.encode(texts));
  return {
    encoder,
    head,
    labels: head.config.labels,
    predictProba,
    predict: async (texts) => (await predictProba(texts)).map((p) => head.config.labels[p.indexOf(Math.max(...p))]),
  };
}
