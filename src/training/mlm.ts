/**
 * `task: mlm`: continue masked-language-model pretraining of model.base on unlabelled domain
 * text, before a Siamese fine-tune (whose `model.base` takes the folder this saves).
 *
 *   texts      data.train: a .txt file (one text a line) or the text columns of a csv / tsv /
 *              jsonl file; held out: data.dev or data.validation_split
 *   masking    BERT's 15% with 80/10/10 (src/data/masking.ts), optionally whole words; a
 *              fresh draw each step, seeded by (training.seed, step)
 *   head       the checkpoint's own MLM head when its model.safetensors has one, else a new
 *              one tied to the word embeddings (src/models/mlm-head.ts); only the masked
 *              positions go through the vocabulary projection
 *   metrics    training loss every log_every steps; held-out perplexity exp(mean cross-entropy
 *              over the masked tokens, one fixed masking) before training and at every
 *              evaluation, in metrics.jsonl and report.html
 *   saves      a plain Hugging Face *ForMaskedLM folder (config.json, model.safetensors with the
 *              head, tokenizer files): transformers' AutoModelForMaskedLM loads it, and so does
 *              model.base (mean pooling is added, as for any plain folder)
 *
 * The run trains on tfjs (the reference engine; the onnx engine computes sentence embeddings
 * only) with the recipe's optimizer, schedule, clipping, freezing and keep_best; it writes no
 * checkpoints, so it cannot be resumed: a stopped run starts again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { readToHost } from '../backend/index.js';
import { restore, snapshot, type Snapshot } from './weights.js';
import { makeBatches, validationSplit } from '../data/index.js';
import { maskTokens, wordStarts, type MaskingOptions } from '../data/masking.js';
import { DataError, ModelError, TrainingAborted, UserError } from '../errors.js';
import { resolveModelFolder } from '../models/hub.js';
import { loadEncoder } from '../models/index.js';
import { MlmHead, mlmHeadNames } from '../models/mlm-head.js';
import { readSafetensors, writeSafetensors } from '../models/safetensors.js';
import type { SentenceEncoder } from '../models/sentence-encoder.js';
import type { TokenBatch } from '../models/types.js';
import { recipeToYaml, type Recipe } from '../recipe/index.js';
import { appendFileNamed, replaceDirAtomic, writeFileAtomic, writeFileNamed } from '../util/fs.js';
import { progressBar } from '../util/progress.js';
import { clipAsRecipe } from './clip.js';
import { readDataFile } from './data.js';
import { AdamOptimizer, adamOptionsOf } from './optimizer.js';
import { assertModelDirReplaceable, openRunFolder, planRunFolder } from './run-folder.js';
import { writeRunReport } from './run-report.js';
import { makeSchedule, warmupFromRatio } from './schedule.js';
import type { TaskResult } from './tasks.js';
import type { TrainOptions } from './trainer.js';

/** An encoder with its MLM head: what the task trains and saves. */
export interface MaskedLm {
  encoder: SentenceEncoder;
  head: MlmHead;
  /** Where the head came from: 'checkpoint' (the model's own) or 'new'. */
  headFrom: 'checkpoint' | 'new';
}

/** Load model.base with its MLM head (the checkpoint's own when its model.safetensors has one). */
export async function loadMaskedLm(spec: string, seed = 42): Promise<MaskedLm> {
  const encoder = await loadEncoder(spec, { seed });
  let head: MlmHead | null = null;
  if (!spec.startsWith('builtin:')) {
    const file = join(await resolveModelFolder(spec), 'model.safetensors');
    if (existsSync(file)) head = MlmHead.fromTensors(encoder.config, readSafetensors(file));
  }
  return head ? { encoder, head, headFrom: 'checkpoint' } : { encoder, head: MlmHead.fresh(encoder.config, seed + 1), headFrom: 'new' };
}

/** Cross-entropy of the masked positions, summed, and how many there were. */
export function maskedLmLoss(model: MaskedLm, batch: TokenBatch, masked: { inputIds: Int32Array; positions: Int32Array; labels: Int32Array }): { sum: tf.Scalar; count: number } {
  return tf.tidy(() => {
    const hidden = model.encoder.tokenEmbeddings({ ...batch, inputIds: masked.inputIds });
    const H = hidden.shape[2];
    const rows = tf.gather(tf.reshape(hidden, [-1, H]), tf.tensor1d(masked.positions, 'int32')) as tf.Tensor2D;
    const words = model.encoder.transformer.weights.get('embeddings.word_embeddings.weight')! as tf.Tensor2D;
    const logits = model.head.logits(rows, words);
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(tf.tensor1d(masked.labels, 'int32'), logits.shape[1])), 1);
    return { sum: tf.neg(tf.sum(picked)) as tf.Scalar, count: masked.labels.length };
  });
}

/** The masking options for an encoder's tokenizer and the recipe, less the random source (read once per run: tokenizer.json can be large). */
function maskingFor(encoder: SentenceEncoder, recipe: Recipe): Omit<MaskingOptions, 'rng'> {
  const v = encoder.tokenizer.mlmVocabulary();
  if (v.maskId === null) throw new ModelError(`${encoder.source}: its tokenizer has no mask token, so it cannot be trained as a masked language model`);
  const tj = encoder.tokenizer.files.get('tokenizer.json');
  const wordPiece = tj ? (JSON.parse(tj.toString('utf8')) as { model?: { type?: string } }).model?.type === 'WordPiece' : false;
  return { probability: recipe.mlm.probability, wholeWord: recipe.mlm.whole_word, maskId: v.maskId, vocabSize: encoder.config.vocabSize, specialIds: v.specialIds, startsWord: wordStarts(v.token, wordPiece) };
}

/** The texts of one data file: lines of a .txt file, or every text column of a table. */
export function readTexts(recipe: Recipe, key: 'train' | 'dev', file: string): string[] {
  if (/\.txt$/i.test(file) && recipe.data.format === null) {
    const texts = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    if (texts.length === 0) throw new DataError(`${file}: no texts found (one text a line)`);
    return texts;
  }
  // Labels are not read: the mapping's label column is left out.
  const mapping = { columns: { texts: recipe.data.columns.texts, label: null }, format: recipe.data.format, header: recipe.data.header, score_scale: null };
  const { examples } = readDataFile(recipe, key, file, null, mapping);
  return examples.flatMap((e) => e.texts).filter((t) => t.trim().length > 0);
}

export async function runMlm(recipe: Recipe, opts: TrainOptions = {}): Promise<TaskResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (opts.resume) throw new UserError('--resume: task mlm writes no checkpoints; start the run again (with output.overwrite: true to replace it)');
  const plan = planRunFolder(recipe, false);
  for (const note of plan.notes) log(note);
  const t = recipe.training;
  let train = readTexts(recipe, 'train', recipe.data.train as string);
  let dev = recipe.data.dev ? readTexts(recipe, 'dev', recipe.data.dev) : null;
  if (recipe.data.validation_split > 0) ({ train, dev } = validationSplit(train, recipe.data.validation_split, t.seed));
  if (dev !== null && dev.length === 0) throw new DataError('data.validation_split: leaves no held-out text');

  const model = await loadMaskedLm(recipe.model.base, t.seed);
  const { encoder, head } = model;
  if (recipe.model.max_seq_length !== null) encoder.setMaxSeqLength(recipe.model.max_seq_length);
  if (t.freeze.embeddings || t.freeze.layers > 0) encoder.freeze({ embeddings: t.freeze.embeddings, layers: t.freeze.layers });
  const masking = maskingFor(encoder, recipe);
  log(`mlm: ${train.length} training texts${dev ? `, ${dev.length} held out` : ''}; ${model.headFrom === 'checkpoint' ? "the checkpoint's own MLM head" : 'a new MLM head tied to the word embeddings'}`);
  const trainable = new Map<string, tf.Variable>();
  const unfrozen = new Set(encoder.trainableVariables());
  for (const [name, v] of encoder.transformer.weights) if (unfrozen.has(v) && !name.startsWith('pooler.')) trainable.set(name, v);
  for (const [name, v] of head.variables()) trainable.set(name, v);
  const varList = [...trainable.values()];
  const byVar = new Map([...trainable].map(([name, v]) => [v.name, name]));
  const optimizer = new AdamOptimizer(adamOptionsOf(recipe));
  const examples = train.map((text) => ({ texts: [text] }));
  const batchesOf = (epoch: number) => makeBatches(examples, t.batch_size, { shuffle: t.shuffle, seed: t.seed, epoch });
  const perEpoch = batchesOf(0).length;
  const totalSteps = t.max_steps !== null ? Math.min(t.max_steps, perEpoch * t.epochs) : perEpoch * t.epochs;
  const warmup = recipe.schedule.warmup_ratio !== null ? warmupFromRatio(recipe.schedule.warmup_ratio, totalSteps) : recipe.schedule.warmup_steps;
  const schedule = makeSchedule(recipe.schedule.name, recipe.optimizer.lr, warmup, totalSteps);

  const runDir = recipe.output.dir;
  const metricsFile = join(runDir, 'metrics.jsonl');
  const previous = openRunFolder(recipe, plan, log);
  previous?.discard(log); // no checkpoints: the new run replaces the old one from its start
  writeFileAtomic(metricsFile, '');
  writeFileAtomic(join(runDir, 'recipe.yaml'), recipeToYaml(recipe));
  const state = { step: 0, totalSteps, best: null as { step: number; value: number } | null, stoppedEarly: false, startMetrics: null as Record<string, number> | null };
  let bestWeights: Snapshot | null = null;
  const evaluate = async (): Promise<Record<string, number>> => {
    const m = await heldOutPerplexity(model, dev!, recipe);
    appendFileNamed(metricsFile, JSON.stringify({ type: 'eval', step: state.step, ...m }) + '\n');
    const better = state.best === null || m.perplexity < state.best.value - recipe.evaluation.early_stopping.min_delta;
    if (better) {
      state.best = { step: state.step, value: m.perplexity };
      if (recipe.evaluation.keep_best) bestWeights = await snapshot(trainable);
    }
    return m;
  };
  try {
    if (dev) {
      state.startMetrics = await evaluate();
      log(`held-out perplexity before training: ${state.startMetrics.perplexity.toFixed(2)}`);
      await writeRunReport(recipe, metricsFile, state, null);
    }
    const bar = opts.progress === false ? null : progressBar('mlm', totalSteps, 'steps');
    let lossSum = 0;
    let lossN = 0;
    outer: for (let epoch = 0; epoch < t.epochs; epoch++) {
      for (const batch of batchesOf(epoch)) {
        if (state.step >= totalSteps) break outer;
        if (opts.signal?.aborted) throw new TrainingAborted(`interrupted at step ${state.step}; task mlm writes no checkpoints, so the run starts again`);
        const lr = schedule.lrAt(state.step);
        const tokens = encoder.tokenize(batch.map((e) => e.texts[0]));
        const masked = maskTokens(tokens, { ...masking, rng: seedrandom(`mlm:${t.seed}:${state.step}`) });
        const { value, grads } = tf.variableGrads(() => {
          const { sum, count } = maskedLmLoss(model, tokens, masked);
          return tf.div(sum, count) as tf.Scalar;
        }, varList);
        const { grads: named, norm } = clipAsRecipe(new Map<string, tf.Tensor>(Object.entries(grads).map(([k, g]) => [byVar.get(k)!, g])), recipe.optimizer);
        const [lv, nv] = await Promise.all([value.data(), norm.data()]);
        if (!Number.isFinite(lv[0]) || !Number.isFinite(nv[0])) throw new UserError(`task mlm: the loss became ${lv[0]} at step ${state.step + 1}; lower optimizer.lr or set optimizer.clip_grad_norm`);
        optimizer.apply(trainable, named, lr);
        for (const g of named.values()) g.dispose();
        value.dispose();
        norm.dispose();
        state.step += 1;
        lossSum += lv[0];
        lossN += 1;
        bar?.update(state.step);
        opts.onStep?.({ step: state.step, totalSteps, epoch, loss: lv[0], lr } as never);
        if (state.step % t.log_every === 0 || state.step === totalSteps) {
          appendFileNamed(metricsFile, JSON.stringify({ type: 'train', step: state.step, epoch, loss: lossSum / lossN, lr, grad_norm: nv[0] }) + '\n');
          lossSum = 0;
          lossN = 0;
        }
        const ev = recipe.evaluation.every_steps;
        if (dev && ev !== null && state.step % ev === 0 && state.step < totalSteps) {
          const m = await evaluate();
          log(`step ${state.step}: held-out perplexity ${m.perplexity.toFixed(2)}`);
          await writeRunReport(recipe, metricsFile, state, null);
        }
      }
      if (dev && recipe.evaluation.at_epoch_end && state.step < totalSteps) {
        const m = await evaluate();
        log(`epoch ${epoch + 1}: held-out perplexity ${m.perplexity.toFixed(2)}`);
      }
    }
    bar?.stop();
    let final: Record<string, number> | null = null;
    if (dev) {
      final = await evaluate();
      if (bestWeights !== null && state.best !== null && state.best.step !== state.step) {
        restore(trainable, bestWeights);
        log(`evaluation.keep_best: saving the weights of step ${state.best.step} (perplexity ${state.best.value.toFixed(2)})`);
        final = await heldOutPerplexity(model, dev, recipe);
      }
    }
    const modelDir = recipe.output.model_dir;
    if (!opts.skipSave) {
      await saveMaskedLm(model, modelDir);
      log(`saved the MLM model to ${modelDir}`);
      if (dev) await writeRunReport(recipe, metricsFile, state, { dev: final, test: null, scatters: [] });
    }
    const before = state.startMetrics?.perplexity;
    const summary = dev ? `held-out perplexity ${before!.toFixed(2)} -> ${final!.perplexity.toFixed(2)}` : 'no held-out texts (set data.dev or data.validation_split for perplexity)';
    return { runDir, modelDir: opts.skipSave ? null : modelDir, steps: state.step, summary };
  } finally {
    optimizer.dispose();
    head.dispose();
    encoder.dispose();
  }
}

/** exp(mean cross-entropy) over the held-out texts' masked tokens, with one fixed (seeded) masking. */
export async function heldOutPerplexity(model: MaskedLm, texts: string[], recipe: Recipe): Promise<{ perplexity: number; dev_loss: number }> {
  const rng = seedrandom(`mlm-eval:${recipe.training.seed}`);
  const masking = maskingFor(model.encoder, recipe);
  const size = recipe.evaluation.batch_size;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < texts.length; i += size) {
    const tokens = model.encoder.tokenize(texts.slice(i, i + size));
    const masked = maskTokens(tokens, { ...masking, rng });
    const r = maskedLmLoss(model, tokens, masked);
    sum += (await r.sum.data())[0];
    r.sum.dispose();
    count += r.count;
  }
  const loss = sum / count;
  return { perplexity: Math.exp(loss), dev_loss: loss };
}

/**
 * Save as a plain Hugging Face `*ForMaskedLM` folder: config.json naming that class,
 * model.safetensors with the base weights under the class's prefix (bert., roberta., ...) and
 * the head, the tokenizer files, and the sbert-train marker (so a later run may replace it).
 */
export async function saveMaskedLm(model: MaskedLm, dir: string): Promise<void> {
  assertModelDirReplaceable(dir);
  const { encoder, head } = model;
  const names = mlmHeadNames(encoder.config.architecture);
  const values = await readToHost(encoder.transformer.weights);
  const base = encoder.transformer.exportWeights(values);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of base) tensors.set(names.prefix + name, t);
  for (const [name, t] of await head.exportTensors(values.get('embeddings.word_embeddings.weight')!)) tensors.set(name, t);
  replaceDirAtomic(dir, (tmp) => {
    writeFileNamed(join(tmp, 'config.json'), JSON.stringify({ ...encoder.config.raw, architectures: [names.architecture], tie_word_embeddings: true }, null, 2) + '\n');
    writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
    for (const [name, bytes] of encoder.tokenizer.files) writeFileNamed(join(tmp, name), bytes);
    writeFileNamed(join(tmp, 'config_sentence_transformers.json'), JSON.stringify({ __version__: { sbert_train: '0.1.0' } }, null, 2) + '\n');
  });
}
