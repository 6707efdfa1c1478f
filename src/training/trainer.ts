/**
 * The training loop: a Siamese (shared-weights) encoder, one forward pass per text column as
 * sentence-transformers' `SentenceTransformerTrainer` does, a loss over the column embeddings,
 * gradient accumulation, clipping, Adam(W) with a warmup schedule, periodic STS evaluation with
 * early stopping and best-model keeping, crash-safe checkpoints and exact resume.
 *
 * Determinism: batch order is a pure function of (seed, epoch) (src/data makeBatches), the
 * optimizer state is checkpointed bit for bit, and checkpoints are only taken at optimizer-step
 * boundaries, so a resumed run replays exactly the updates an uninterrupted run makes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TrainingAborted, UserError } from '../errors.js';
import { assertBackendHealthy } from '../backend/index.js';
import { loadEncoder, type SentenceEncoder } from '../models/index.js';
import type { PoolingMode } from '../models/pooling.js';
import { evaluateSts } from '../evaluation/sts-evaluator.js';
import type { ScatterData } from '../evaluation/report.js';
import { recipeFromYaml, recipeToYaml, type Recipe } from '../recipe/index.js';
import { appendFileNamed, writeFileAtomic } from '../util/fs.js';
import { progressBar, type Progress } from '../util/progress.js';
import { AdamOptimizer, adamOptionsOf, type OptimizerState } from './optimizer.js';
import { HostAdamW } from '../engine/adamw.js';
import { encoderSpec, encoderWeights } from '../engine/onnx/encoder.js';
import { OnnxTrainingEngine } from '../engine/onnx/training.js';
import type { ExecutionProvider } from '../engine/onnx/providers.js';
import { copyEngineWeights, engineStepOnce } from './engine-step.js';
import { LoraEngine, LoraTraining } from './lora.js';
import type { TrainingEngine } from '../engine/index.js';
import type { AdapterFiles } from '../models/sentence-encoder.js';
import { applyRecipeToEncoder, evaluationDims, withColumnPrompts } from './embedding-options.js';
import { cachedVariableGrads, usesMiniBatches } from './cached-step.js';
import { makeSchedule, warmupFromRatio, type Schedule } from './schedule.js';
import { clipAsRecipe } from './clip.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, cleanStale, type TensorIndexEntry } from './checkpoint.js';
import { restore, snapshot, type Snapshot } from './weights.js';
import { TensorBoardWriter } from './tensorboard.js';
import { historyFromMetrics, writeRunReport } from './run-report.js';
import { frameworkVersions, modelCard } from './model-card.js';
import { assertModelDirReplaceable, openRunFolder, planRunFolder, type PreviousRun } from './run-folder.js';
import { buildLoss, checkResumeData, divergenceAdvice, epochBatches, loadRunData, toStsPairs, trainSetsOf, type DataFingerprints, type Example, type RunData, type TrainLoss, type TrainSet } from './data.js';
import { DatasetLosses } from './dataset-losses.js';
import { fileEvaluator, runFileEvaluators, type FileEvaluator } from '../evaluation/file-evaluators.js';

export interface StepInfo {
  /** Optimizer steps done, counting this one (1-based). */
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

export interface EvalInfo {
  step: number;
  epoch: number;
  metrics: Record<string, number>;
  improved: boolean;
}

export interface TrainOptions {
  /** Continue from the newest complete checkpoint in the run folder. */
  resume?: boolean;
  /** With resume: continue even though a data file changed since the checkpoint (else refused). */
  allowChangedData?: boolean;
  /** Called after every optimizer step (for the parity test and the CLI). */
  onStep?: (info: StepInfo) => void;
  onEval?: (info: EvalInfo) => void;
  /** Abort: when it fires, training writes a checkpoint at the next step boundary and throws TrainingAborted. */
  signal?: AbortSignal;
  /** Show a progress bar (default: decided by src/util/progress). */
  progress?: boolean;
  /** Skip writing the tuned model and report (tests). */
  skipSave?: boolean;
  /** Test hooks: make the loss of this optimizer step NaN; sleep after each step; sleep inside a checkpoint save. */
  test?: { nanAtStep?: number; stepDelayMs?: number; checkpointDelay?: { step: number; ms: number } };
  /** Print plain status lines (default true). */
  log?: (line: string) => void;
  /**
   * What runs the encoder's forward and backward passes: 'tfjs' (default, the reference) or
   * 'onnx' (onnxruntime-node graphs, src/engine/onnx/training.ts; the losses stay in tfjs).
   */
  engine?: 'tfjs' | 'onnx';
  /** onnxruntime intra-op threads for engine 'onnx' (fixed for a bit-identical --resume). */
  threads?: number;
  /**
   * For tasks built on this loop (src/training/tasks.ts): the examples, the loss and the
   * starting encoder, instead of reading them from the recipe (distillation trains on texts
   * whose targets are the teacher's embeddings, and a student cut from model.base).
   */
  prepared?: { data: RunData; loss: TrainLoss; encoder?: SentenceEncoder };
  /** onnxruntime execution provider for engine 'onnx' (default cpu; src/engine/onnx/providers.ts). */
  provider?: ExecutionProvider;
}

export interface TrainResult {
  runDir: string;
  modelDir: string | null;
  steps: number;
  losses: number[];
  /** Dev metrics before training (step 0) and of the saved model. */
  startMetrics: Record<string, number> | null;
  finalMetrics: Record<string, number> | null;
  testMetrics: Record<string, number> | null;
  best: { step: number; value: number } | null;
  stoppedEarly: boolean;
  weightsHash: string;
}

/** Everything that must survive a resume, besides weights and optimizer moments. */
interface LoopState {
  step: number;
  epoch: number;
  /** Batches of `epoch` already consumed (a multiple of grad_accum_steps, or the epoch's end). */
  batchInEpoch: number;
  best: { step: number; value: number } | null;
  badEvals: number;
  stoppedEarly: boolean;
  evals: Array<{ step: number; metrics: Record<string, number> }>;
  startMetrics: Record<string, number> | null;
  /** Test metrics of the base model (for the model card); absent in checkpoints that predate it. */
  startTestMetrics?: Record<string, number> | null;
  /** Several training datasets: each one's batch losses since the last metrics row (./dataset-losses.ts). */
  datasetLosses?: Record<string, { sum: number; batches: number }>;
}

/** Train a model as the recipe says. The programmatic entry point (the CLI is a thin wrapper). */
export async function train(recipe: Recipe, opts: TrainOptions = {}): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const runDir = recipe.output.dir;
  const ckptRoot = join(runDir, 'checkpoints');
  const metricsFile = join(runDir, 'metrics.jsonl');
  // Read-only checks first (one line, exit 2); the folder is touched once the data and the model have loaded.
  const plan = planRunFolder(recipe, !!opts.resume);
  for (const note of plan.notes) log(note);
  if (opts.resume && plan.start !== 'resume') opts = { ...opts, resume: false }; // nothing to continue from: start from the beginning

  const data = opts.prepared?.data ?? withColumnPrompts(loadRunData(recipe), recipe);
  // evaluation.evaluators: their files read now, so a bad one fails before the model loads.
  const evaluators = recipe.evaluation.evaluators.map((e, i) => fileEvaluator({ ...e, where: `evaluation.evaluators[${i}]` }));
  const encoder = await buildEncoder(recipe, opts.prepared?.encoder);
  applyRecipeToEncoder(encoder, recipe); // Matryoshka dims checked against the model; model.prompts saved with it
  const loss = opts.prepared?.loss ?? buildLoss(recipe);
  // model.lora: only the adapters train; the encoder's targeted kernels hold the merged weights (./lora.ts).
  const lora = recipe.model.lora ? await LoraTraining.attach(encoder, recipe.model.lora, recipe.training.seed) : null;
  const all = lora ? lora.withAdapters(encoder.namedWeights()) : encoder.namedWeights();
  const trainable = lora ? lora.variables : trainableByName(encoder, all);
  const adam = adamOptionsOf(recipe);
  // The onnx engine keeps the weights and steps them on the host (same update, bit for bit).
  const optimizer = opts.engine === 'onnx' ? new HostAdamW(adam) : new AdamOptimizer(adam);
  let engine: TrainingEngine | null = null;
  /** What does the arithmetic, as recorded in checkpoints: a resume on another one is not bit-identical. */
  const onnxName = opts.provider && opts.provider !== 'cpu' ? `onnx ${opts.provider}` : 'onnx';
  const engineName = opts.engine === 'onnx' ? `${onnxName}, ${opts.threads ?? 'default'} threads` : `tfjs ${tf.getBackend()}`;
  /** The training datasets: batches come from one at a time, each trained with its own loss. */
  const sets = trainSetsOf(data, loss);
  const { stepsPerEpoch, totalSteps } = countSteps(recipe, data.train, sets);
  if (sets.length > 1) log(`datasets: ${sets.map((t) => `${t.name} (${t.end - t.start} rows, ${t.loss.name})`).join(', ')}; ${recipe.training.multi_dataset_sampler} sampling, ${stepsPerEpoch} steps per epoch`);
  const warmup = recipe.schedule.warmup_ratio !== null ? warmupFromRatio(recipe.schedule.warmup_ratio, totalSteps) : recipe.schedule.warmup_steps;
  const schedule = makeSchedule(recipe.schedule.name, recipe.optimizer.lr, warmup, totalSteps);

  let state: LoopState = { step: 0, epoch: 0, batchInEpoch: 0, best: null, badEvals: 0, stoppedEarly: false, evals: [], startMetrics: null };
  let best: Snapshot | null = null;
  const losses: number[] = [];
  const recipeYaml = recipeToYaml(recipe);
  let previous: PreviousRun | null = null;

  try {
    previous = openRunFolder(recipe, plan, log); // a run being replaced is only set aside until the first checkpoint
    if (opts.resume) {
      const found = latestCheckpoint(ckptRoot);
      if (!found) throw new UserError(`--resume: no complete checkpoint in ${ckptRoot}`);
      const ck = loadCheckpoint(found.dir);
      checkSameRecipe(recipe, ck.recipeYaml, found.dir);
      const st = ck.state as unknown as LoopState & { weightsIndex: TensorIndexEntry[]; optimizerIndex: TensorIndexEntry[]; optimizerStep: number; losses: number[]; data?: DataFingerprints; engine?: string };
      checkResumeData(data.fingerprints, st.data, found.dir, !!opts.allowChangedData, log);
      restore(all, { index: st.weightsIndex, data: ck.weights });
      if (ck.optimizer) optimizer.setState(unpackMoments(st.optimizerIndex, ck.optimizer, st.optimizerStep), trainable);
      if (ck.best) best = { index: st.weightsIndex, data: ck.best };
      state = pickState(st);
      losses.push(...st.losses);
      truncateMetrics(metricsFile, state.step);
      // Bit-identical resume needs the same arithmetic: the same engine and thread count.
      if (st.engine !== undefined && st.engine !== engineName) {
        log(`note: this run was checkpointed training on ${st.engine} and now trains on ${engineName}; it will differ slightly (float rounding) from an uninterrupted run (resume with the same --backend and --threads to continue it exactly)`);
      }
      log(`resuming from ${found.dir} (step ${state.step} of ${totalSteps})`);
    } else {
      writeFileAtomic(metricsFile, '');
    }
    writeFileAtomic(join(runDir, 'recipe.yaml'), recipeYaml);
    cleanStale(ckptRoot);
    // One event file per process start; a resume first cuts what the earlier ones logged past the checkpoint.
    const tb = TensorBoardWriter.open(join(runDir, 'tensorboard'), opts.resume ? state.step : null);
    const report = async (final: Parameters<typeof writeRunReport>[3] = null): Promise<void> => {
      if (!opts.skipSave) await writeRunReport(recipe, metricsFile, { ...state, totalSteps }, final);
    };
    if (optimizer instanceof HostAdamW) {
      const onnx = await OnnxTrainingEngine.create(encoderSpec(encoder), await encoderWeights(encoder), lora ? null : optimizer, { threads: opts.threads, provider: opts.provider });
      engine = lora ? await LoraEngine.create(onnx, lora, optimizer) : onnx;
    }
    /** With an engine, the weights being trained live there: copy them to the encoder before it is read. */
    const syncEncoder = () => engine && copyEngineWeights(engine, all);

    // Something to evaluate: the dev set, or the files of evaluation.evaluators.
    const hasDev = data.dev !== null || evaluators.length > 0;
    const evaluate = async (): Promise<Record<string, number>> => {
      syncEncoder();
      return evalDev(encoder, loss, data, recipe, evaluators);
    };
    if (!opts.resume && hasDev) {
      state.startMetrics = await evaluate();
      appendMetrics(metricsFile, { type: 'eval', step: 0, epoch: 0, ...state.startMetrics }, tb);
      log(`dev before training: ${summarise(state.startMetrics, recipe.evaluation.monitor)}`);
    }
    if (!opts.resume && data.test) state.startTestMetrics = await evalSet(encoder, loss, data.test, recipe);
    if (!opts.resume && hasDev) await report();

    const writeCheckpoint = async (): Promise<string> => {
      syncEncoder();
      const w = await snapshot(all);
      const moments = await packMoments(optimizer, trainable);
      const written = saveCheckpoint(
        ckptRoot,
        state.step,
        {
          weights: w.data,
          optimizer: moments.data,
          best: best ? best.data : null,
          state: { ...state, weightsIndex: w.index, optimizerIndex: moments.index, optimizerStep: optimizer.stepCount, losses, rng: { seed: recipe.training.seed, batchOrder: 'makeBatches(seed, epoch)' }, data: data.fingerprints, engine: engineName },
          recipeYaml,
        },
        recipe.training.keep_checkpoints,
        opts.test?.checkpointDelay?.step === state.step ? { beforeManifest: () => sleepSync(opts.test!.checkpointDelay!.ms) } : {},
      );
      // The new run can now be resumed on its own: the run it replaces goes.
      previous?.discard(log);
      previous = null;
      return written;
    };

    /** Evaluate, track the best, count patience. Returns true when training should stop. */
    const evalAndTrack = async (): Promise<boolean> => {
      const metrics = await evaluate();
      const value = metrics[recipe.evaluation.monitor];
      if (value === undefined) {
        throw new UserError(`evaluation.monitor: '${recipe.evaluation.monitor}' is not reported by the evaluator (it reports ${Object.keys(metrics).join(', ')})`);
      }
      state.evals.push({ step: state.step, metrics });
      const sign = recipe.evaluation.mode === 'max' ? 1 : -1;
      const improved = Number.isFinite(value) && (state.best === null || sign * (value - state.best.value) > recipe.evaluation.early_stopping.min_delta);
      if (improved) {
        state.best = { step: state.step, value };
        state.badEvals = 0;
        if (recipe.evaluation.keep_best) best = await snapshot(all);
      } else {
        state.badEvals += 1;
      }
      appendMetrics(metricsFile, { type: 'eval', step: state.step, epoch: state.epoch, ...metrics }, tb);
      await report(); // every evaluation: a killed run still has its report
      opts.onEval?.({ step: state.step, epoch: state.epoch, metrics, improved });
      log(`eval step ${state.step}: ${summarise(metrics, recipe.evaluation.monitor)}${improved ? ' (best)' : ` (no improvement ${state.badEvals})`}`);
      const patience = recipe.evaluation.early_stopping.patience;
      if (patience !== null && state.badEvals >= patience) {
        state.stoppedEarly = true;
        log(`early stopping: no improvement of ${recipe.evaluation.monitor} by more than ${recipe.evaluation.early_stopping.min_delta} in ${patience} evaluations`);
        return true;
      }
      return false;
    };

    const bar: Progress =
      opts.progress === false
        ? { update() {}, stop() {} }
        : progressBar('train', totalSteps, 'steps', ' | epoch {epoch} | loss {loss} | lr {lr}');
    bar.update(state.step, { epoch: state.epoch + 1, loss: '-', lr: '-' });
    const accum = recipe.training.grad_accum_steps;
    const every = recipe.evaluation.every_steps;
    const ckEvery = recipe.training.checkpoint_every;
    let stop = state.stoppedEarly || state.step >= totalSteps;

    try {
      while (!stop && state.epoch < recipe.training.epochs) {
        const batches = epochBatches(recipe, data.train, sets, state.epoch);
        if (state.batchInEpoch >= batches.length) {
          // A position past the end (resumed on data that shrank, --allow-changed-data) or an epoch
          // without a batch: the epoch is over. Without this the outer loop would spin forever.
          log(`epoch ${state.epoch + 1}: position ${state.batchInEpoch} is past its ${batches.length} batches; starting the next epoch`);
          state.epoch += 1;
          state.batchInEpoch = 0;
          continue;
        }
        while (!stop && state.batchInEpoch < batches.length) {
          const picked = batches.slice(state.batchInEpoch, Math.min(state.batchInEpoch + accum, batches.length));
          const group = picked.map((b) => b.examples);
          const groupLosses = picked.map((b) => sets[b.dataset].loss); // each batch is trained with its own dataset's loss
          const lr = schedule.lrAt(state.step);
          const injectNan = opts.test?.nanAtStep === state.step + 1;
          const { loss: lossValue, norm, batchLosses } = engine
            ? await engineStepOnce(engine, encoder, groupLosses, group, new Set(trainable.keys()), recipe, lr, injectNan)
            : await stepOnce(encoder, groupLosses, group, trainable, optimizer as AdamOptimizer, recipe, lr, injectNan, lora);
          if (!Number.isFinite(lossValue) || !Number.isFinite(norm)) {
            const last = latestCheckpoint(ckptRoot);
            throw new TrainingAborted(
              `${Number.isFinite(lossValue) ? `gradient norm is ${norm}` : `loss is ${lossValue}`} at step ${state.step + 1} (epoch ${state.epoch + 1}); training stopped, weights not updated; ${last ? `last good checkpoint: ${last.dir} (resume with --resume)` : 'no checkpoint was written yet'}; ${divergenceAdvice(group, groupLosses[0], state.step)}`,
            );
          }
          state.step += 1;
          state.batchInEpoch += group.length;
          losses.push(lossValue);
          if (sets.length > 1) state.datasetLosses = DatasetLosses.add(state.datasetLosses, picked.map((b, i) => [sets[b.dataset].name, batchLosses[i]]));
          const info: StepInfo = { step: state.step, epoch: state.epoch + 1, loss: lossValue, lr, gradNorm: norm };
          opts.onStep?.(info);
          if (state.step % recipe.training.log_every === 0 || state.step === 1) {
            const perDataset = DatasetLosses.row(state.datasetLosses); // loss/<name>: each dataset's mean batch loss since the last row
            state.datasetLosses = undefined;
            appendMetrics(metricsFile, { type: 'train', step: state.step, epoch: state.epoch + 1, loss: lossValue, ...perDataset, lr, grad_norm: norm, time: new Date().toISOString() }, tb);
          }
          bar.update(state.step, { epoch: state.epoch + 1, loss: lossValue.toFixed(4), lr: lr.toExponential(2) });
          if (state.step >= totalSteps) stop = true;
          if (every !== null && hasDev && state.step % every === 0) stop = (await evalAndTrack()) || stop;
          if (state.batchInEpoch >= batches.length) {
            // Epoch done: move the data position before any checkpoint so a resume starts the next epoch.
            const finishedEpoch = state.epoch;
            state.epoch += 1;
            state.batchInEpoch = 0;
            if (recipe.evaluation.at_epoch_end && hasDev && !(every !== null && state.step % every === 0)) {
              stop = (await evalAndTrack()) || stop;
            }
            log(`epoch ${finishedEpoch + 1}/${recipe.training.epochs} done at step ${state.step}`);
          }
          const epochDone = state.batchInEpoch === 0;
          if (ckEvery !== null && state.step % ckEvery === 0) await writeCheckpoint();
          if (opts.signal?.aborted) {
            const dir = await writeCheckpoint();
            throw new TrainingAborted(`interrupted at step ${state.step}: checkpoint written to ${dir}; continue with --resume`);
          }
          if (opts.test?.stepDelayMs) await sleep(opts.test.stepDelayMs);
          else await new Promise((r) => setImmediate(r));
          if (epochDone) break; // the next epoch has its own batch order
        }
      }
    } finally {
      bar.stop();
    }
    syncEncoder();
    // A final checkpoint, so --resume of a finished run is a no-op and the state is inspectable.
    if (ckEvery === null || state.step % ckEvery !== 0) await writeCheckpoint();

    if (recipe.evaluation.keep_best && best !== null && state.best !== null && state.best.step !== state.step) {
      restore(all, best);
      log(`restored the best model (step ${state.best.step}, ${recipe.evaluation.monitor} ${state.best.value.toFixed(4)})`);
    }
    // The final evaluations also keep per-pair gold and cosine scores for the report's scatter plot.
    const scatters: ScatterData[] = [];
    const finalMetrics = hasDev ? { ...(data.dev ? await evalSet(encoder, loss, data.dev, recipe, scatters, 'dev') : {}), ...(await runFileEvaluators(evaluators, encoder, { batchSize: recipe.evaluation.batch_size })) } : null;
    let testMetrics: Record<string, number> | null = null;
    if (data.test) testMetrics = await evalSet(encoder, loss, data.test, recipe, scatters, 'test');
    let modelDir: string | null = null;
    if (!opts.skipSave) {
      modelDir = recipe.output.model_dir;
      const card = modelCard({
        recipe,
        data,
        loss,
        model: { architecture: encoder.config.architecture, dim: encoder.dim, maxSeqLength: encoder.maxSeqLength, pooling: encoder.poolingModes, dense: recipe.model.dense ? 1 : 0, normalize: encoder.normalizes },
        training: { steps: state.step, totalSteps, warmupSteps: warmup, best: state.best, stoppedEarly: state.stoppedEarly },
        evals: historyFromMetrics(metricsFile).evals,
        before: { dev: state.startMetrics, test: state.startTestMetrics ?? null },
        after: { dev: finalMetrics, test: testMetrics },
        versions: frameworkVersions(),
      });
      await saveModelAtomic(encoder, modelDir, card, lora && !recipe.output.merge_lora ? await lora.adapterFiles(recipe.model.base) : undefined);
      await report({ dev: finalMetrics, test: testMetrics, scatters });
      log(`saved the tuned model to ${modelDir}`);
    }
    return {
      runDir,
      modelDir,
      steps: state.step,
      losses,
      startMetrics: state.startMetrics,
      finalMetrics,
      testMetrics,
      best: state.best,
      stoppedEarly: state.stoppedEarly,
      weightsHash: await encoder.weightsHash(),
    };
  } catch (e) {
    // Failed before its first checkpoint: the run it was replacing goes back in place.
    previous?.putBack(log);
    throw e;
  } finally {
    await engine?.release();
    optimizer.dispose();
    lora?.dispose();
    encoder.dispose();
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * One optimizer step over `group` (grad_accum_steps batches): mean loss, clipped mean gradient,
 * update. The loss and gradient norm are read (asynchronously, as GPU backends need) before
 * the update, so a NaN never reaches the weights.
 */
async function stepOnce(
  encoder: SentenceEncoder,
  losses: readonly TrainLoss[],
  group: Example[][],
  trainable: Map<string, tf.Variable>,
  optimizer: AdamOptimizer,
  recipe: Recipe,
  lr: number,
  injectNan: boolean,
  lora: LoraTraining | null,
): Promise<{ loss: number; norm: number; batchLosses: number[] }> {
  // With LoRA the gradients are taken of the merged kernels, then turned into the adapters'.
  const gradOf = lora ? lora.kernels : trainable;
  const varList = [...gradOf.values()];
  const tfName = new Map([...gradOf].map(([name, v]) => [v.name, name]));
  let sum: Map<string, tf.Tensor> | null = null;
  const values: tf.Scalar[] = [];
  for (const [b, batch] of group.entries()) {
    const loss = losses[b]; // the loss of the batch's own dataset
    const mini = recipe.training.mini_batch_size;
    const { value, grads } = usesMiniBatches(mini, batch.length)
      ? await cachedVariableGrads(encoder, loss, batch, varList, mini) // GradCache: same gradients, mini-batch memory
      : tf.variableGrads(() => batchLoss(encoder, loss, batch), varList);
    values.push(value);
    const named = new Map<string, tf.Tensor>();
    for (const [k, g] of Object.entries(grads)) named.set(tfName.get(k)!, g);
    if (sum === null) sum = named;
    else {
      for (const [k, g] of named) {
        const prev = sum.get(k)!;
        sum.set(k, tf.add(prev, g));
        prev.dispose();
        g.dispose();
      }
    }
  }
  let grads = sum!;
  if (group.length > 1) {
    const scaled = new Map<string, tf.Tensor>();
    for (const [k, g] of grads) {
      scaled.set(k, tf.div(g, group.length));
      g.dispose();
    }
    grads = scaled;
  }
  if (lora) grads = await lora.adapterGrads(grads);
  const clipped = clipAsRecipe(grads, recipe.optimizer);
  grads = clipped.grads;
  const normT = clipped.norm;
  const [lossValues, normValue] = await Promise.all([Promise.all(values.map((v) => v.data())), normT.data()]);
  for (const t of [...values, normT]) t.dispose();
  assertBackendHealthy();
  const lossSum = lossValues.reduce((a, v) => a + v[0], 0);
  const meanLoss = injectNan ? NaN : lossSum / group.length;
  const norm = normValue[0];
  if (Number.isFinite(meanLoss) && Number.isFinite(norm)) optimizer.apply(trainable, grads, lr);
  for (const g of grads.values()) g.dispose();
  await lora?.refresh();
  return { loss: meanLoss, norm, batchLosses: lossValues.map((v) => v[0]) };
}

/** Loss of one batch: each text column through the same encoder, then the loss on the embeddings. */
function batchLoss(encoder: SentenceEncoder, loss: TrainLoss, batch: Example[]): tf.Scalar {
  const columns = batch[0].texts.length;
  const embeddings: tf.Tensor2D[] = [];
  for (let c = 0; c < columns; c++) embeddings.push(encoder.forward(encoder.tokenize(batch.map((e) => e.texts[c]))));
  const labels = loss.needsLabel ? tf.tensor1d(batch.map((e) => e.label ?? NaN), 'float32') : null;
  return loss.lossFromEmbeddings(embeddings, labels);
}

/** The encoder's trainable weights by name (training.freeze applied); the classification task reuses it. */
export function trainableByName(encoder: SentenceEncoder, all: Map<string, tf.Variable>): Map<string, tf.Variable> {
  const wanted = new Set(encoder.trainableVariables());
  const out = new Map<string, tf.Variable>();
  for (const [name, v] of [...all].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) if (wanted.has(v)) out.set(name, v);
  if (out.size === 0) throw new UserError('training.freeze: every weight is frozen; nothing left to train');
  return out;
}

/** The recipe's model: model.base with its pooling, length, dense, normalize and freeze settings (the classification task reuses it). */
export async function buildEncoder(recipe: Recipe, given?: SentenceEncoder): Promise<SentenceEncoder> {
  const enc = given ?? (await loadEncoder(recipe.model.base, { seed: recipe.training.seed }));
  const m = recipe.model;
  if (m.pooling !== null) enc.setPooling([m.pooling as PoolingMode]);
  if (m.max_seq_length !== null) enc.setMaxSeqLength(m.max_seq_length);
  if (m.dense !== null) enc.addDense(m.dense.out_features, m.dense.activation === 'tanh' ? 'torch.nn.modules.activation.Tanh' : 'torch.nn.modules.linear.Identity', recipe.training.seed + 1);
  if (m.normalize !== null) enc.setNormalize(m.normalize);
  const f = recipe.training.freeze;
  if (f.embeddings || f.layers > 0) enc.freeze({ embeddings: f.embeddings, layers: f.layers });
  return enc;
}

function countSteps(recipe: Recipe, train: Example[], sets: readonly TrainSet[]): { stepsPerEpoch: number; totalSteps: number } {
  const batches = epochBatches(recipe, train, sets, 0).length;
  const stepsPerEpoch = Math.ceil(batches / recipe.training.grad_accum_steps);
  const all = stepsPerEpoch * recipe.training.epochs;
  return { stepsPerEpoch, totalSteps: recipe.training.max_steps !== null ? Math.min(recipe.training.max_steps, all) : all };
}

/** The dev set's metrics (when there is one) and those of evaluation.evaluators, in one map. */
async function evalDev(encoder: SentenceEncoder, loss: TrainLoss, data: RunData, recipe: Recipe, evaluators: readonly FileEvaluator[]): Promise<Record<string, number>> {
  const dev = data.dev ? await evalSet(encoder, loss, data.dev, recipe) : {};
  return { ...dev, ...(await runFileEvaluators(evaluators, encoder, { batchSize: recipe.evaluation.batch_size })) };
}

/** STS metrics when the set has scores and two texts; dev_loss always. */
async function evalSet(
  encoder: SentenceEncoder,
  loss: TrainLoss,
  set: Example[],
  recipe: Recipe,
  scatterSink?: ScatterData[],
  label?: string,
): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  const pairs = toStsPairs(set);
  if (pairs) {
    // prompt '': the examples already hold training.prompts; the model's default prompt is not for them.
    const r = await evaluateSts(encoder, pairs, { batchSize: recipe.evaluation.batch_size, name: '', progress: false, prompt: '', dims: evaluationDims(recipe) });
    Object.assign(metrics, r.metrics);
    scatterSink?.push({ gold: r.gold, predicted: r.cosine, label: `${label ?? 'dev'}: cosine vs gold` });
  }
  metrics.dev_loss = await datasetLoss(encoder, loss, set, recipe.evaluation.batch_size);
  return metrics;
}

/** Mean loss over a data set in fixed order, weighted by batch size. */
async function datasetLoss(encoder: SentenceEncoder, loss: TrainLoss, set: Example[], batchSize: number): Promise<number> {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < set.length; i += batchSize) {
    const batch = set.slice(i, i + batchSize);
    if (batch.length < 2 && loss.columns > 0 && i > 0) break; // in-batch losses need 2+ rows; drop a lone tail
    const value = tf.tidy(() => batchLoss(encoder, loss, batch));
    sum += (await value.data())[0] * batch.length;
    value.dispose();
    n += batch.length;
  }
  return n ? sum / n : NaN;
}

function summarise(m: Record<string, number>, monitor: string): string {
  const keys = [monitor, 'spearman_cosine', 'dev_loss'].filter((k, i, a) => k in m && a.indexOf(k) === i);
  return keys.map((k) => `${k} ${m[k].toFixed(4)}`).join(', ');
}

async function packMoments(opt: { getState(): Promise<OptimizerState> }, trainable: Map<string, tf.Variable>): Promise<Snapshot> {
  const st = await opt.getState();
  const index: TensorIndexEntry[] = [];
  let offset = 0;
  for (const [name, v] of trainable) {
    if (!st.moments.has(name)) continue;
    index.push({ name, shape: [...v.shape], offset, size: v.size });
    offset += 2 * v.size;
  }
  const data = new Float32Array(offset);
  for (const e of index) {
    const { m, v } = st.moments.get(e.name)!;
    data.set(m, e.offset);
    data.set(v, e.offset + e.size);
  }
  return { index, data };
}

function unpackMoments(index: TensorIndexEntry[], data: Float32Array, step: number) {
  const moments = new Map<string, { m: Float32Array; v: Float32Array }>();
  for (const e of index) moments.set(e.name, { m: data.slice(e.offset, e.offset + e.size), v: data.slice(e.offset + e.size, e.offset + 2 * e.size) });
  return { step, moments };
}

function pickState(s: LoopState): LoopState {
  const { step, epoch, batchInEpoch, best, badEvals, stoppedEarly, evals, startMetrics, startTestMetrics, datasetLosses } = s;
  return { step, epoch, batchInEpoch, best, badEvals, stoppedEarly, evals, startMetrics, startTestMetrics, datasetLosses };
}

/** A resumed run must be the same run: refuse a recipe that changed since the checkpoint. */
function checkSameRecipe(recipe: Recipe, savedYaml: string, dir: string): void {
  let saved: Recipe;
  try {
    saved = recipeFromYaml(savedYaml, dirname(dir));
  } catch {
    throw new UserError(`--resume: the recipe stored in ${dir} no longer validates`);
  }
  const diffs = diffPaths(saved, recipe, '');
  if (diffs.length) throw new UserError(`--resume: the recipe changed since the checkpoint (${diffs.slice(0, 5).join(', ')}); resume with the same recipe or start a new run (output.dir)`);
}

function diffPaths(a: unknown, b: unknown, path: string): string[] {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

/** One metrics row, into metrics.jsonl and the TensorBoard event file: the one place a run logs. */
function appendMetrics(file: string, row: Record<string, unknown> & { step: number }, tb: TensorBoardWriter): void {
  appendFileNamed(file, `${JSON.stringify(row)}\n`);
  tb.logRow(row);
}

/** Drop metric lines logged after the checkpoint a resume starts from (they will be logged again). */
function truncateMetrics(file: string, step: number): void {
  if (!existsSync(file)) return;
  const keep = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false; // a line cut by the crash
      }
    });
  writeFileAtomic(file, keep.map((l) => `${l}\n`).join(''));
}

/**
 * Save the tuned model. SentenceEncoder.save writes a temp folder beside the target and swaps
 * it in (src/util/fs.ts replaceDirAtomic), so a crash or a full disk never leaves half a model
 * or loses the previous one. The target was checked when the run started; it is checked again
 * here, as training may have taken hours: only a model folder we saved is ever replaced.
 */
async function saveModelAtomic(encoder: SentenceEncoder, dir: string, card: string, adapter?: AdapterFiles): Promise<void> {
  assertModelDirReplaceable(dir);
  await encoder.save(dir, { readme: card, adapter });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export type { Schedule };
