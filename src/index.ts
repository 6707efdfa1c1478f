/**
 * sbert-train as a library: the package's one public entry (`import { ... } from 'sbert-train'`).
 * What is exported here is the supported surface; every other module is internal and may change.
 *
 *   import { loadEncoder, train, buildIndex, searchIndex } from 'sbert-train';
 *
 *   const encoder = await loadEncoder('builtin:tiny');
 *   const [vector] = await encoder.encode(['data scientist'], { normalize: true });
 *   await encoder.save('out/model');                     // sentence-transformers layout
 *   const run = await train('recipes/quickstart.yaml', { onStep: (s) => console.log(s.step, s.loss) });
 *   const { index } = await buildIndex(encoder, [{ id: '1', text: 'nurse' }]);
 *   const hits = await searchIndex(index, encoder, 'hospital worker', { k: 5 });
 *
 * The functions that compute (loadEncoder, train, buildIndex, searchIndex) pick a backend on
 * first use, silently (`auto`: tfjs-node if installed, else wasm, else cpu, with
 * onnxruntime-node for inference when it loads); call {@link initBackend} first to choose.
 * Mistakes in what you pass (a file, a recipe key, a column) throw a {@link UserError}
 * subclass with a one-line message; anything else is a bug in sbert-train.
 */
import { isAbsolute, resolve } from 'node:path';
import { BACKENDS, configureBackend, currentBackend, initBackend as initBackendInternal, trainingEngine, type BackendName } from './backend/index.js';
import type { ExecutionProvider } from './engine/onnx/providers.js';
import { loadEncoder as loadEncoderInternal, type LoadOptions, type SentenceEncoder } from './models/index.js';
import type { Encoder } from './models/types.js';
import { loadRecipe, parseRecipe, type Recipe } from './recipe/index.js';
import { train as trainInternal, type EvalInfo, type StepInfo, type TrainResult as RunResult } from './training/index.js';
import { addToIndex as addToIndexInternal, buildIndex as buildIndexInternal } from './search/build.js';
import { indexEmbedding, indexedView, type IndexEmbeddingOptions } from './search/view.js';
import type { Calibration } from './search/calibrate.js';
import { HnswIndex, type Hit, type IndexParams, type Item } from './search/hnsw-index.js';
import { loadClassifier as loadClassifierInternal, trainClassification as trainClassificationInternal, type Classifier, type ClassificationResult } from './training/classification.js';
import { ConfigError } from './errors.js';

// ---- errors: catch these; `instanceof UserError` means "a mistake in the input", not a bug ----
export { UserError, ConfigError, DataError, ModelError, BackendError, TrainingAborted, IoError } from './errors.js';

// ---- backend ----
export { BACKENDS, type BackendName };

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /** onnxruntime intra-op threads for the `onnx` / `auto` inference engine, on `onnx-webgpu` / `onnx-cuda` for the nodes left on the CPU (default: the physical cores). */
  threads?: number;
  /** Print the choice on stderr (`backend: wasm`), as the CLI does (default false). */
  verbose?: boolean;
}

/**
 * Choose the compute backend: `auto` (the default), `onnx`, `onnx-webgpu`, `onnx-cuda`,
 * `tensorflow`, `webgpu`, `wasm` or `cpu`. Returns the name chosen. Calling it again with the same choice does nothing; an
 * unknown or unavailable backend throws a UserError saying what to install.
 */
export async function initBackend(name: BackendName = 'auto', opts: BackendOptions = {}): Promise<string> {
  configureBackend({ threads: opts.threads });
  return initBackendInternal(name, { quiet: !opts.verbose });
}

/** The backend chosen so far (see {@link initBackend}), else `auto`, quietly. */
async function ensureBackend(): Promise<void> {
  if (currentBackend() === null) await initBackendInternal('auto', { quiet: true });
}

// ---- encoders ----
export type { Encoder, EncodeOptions, TokenBatch } from './models/types.js';
export type { LoadOptions, SentenceEncoder };
export { BUILTIN_MODELS, POOLING_MODES, type PoolingMode } from './models/index.js';

/**
 * Load an encoder: `builtin:tiny` (no download), a local sentence-transformers or Hugging Face
 * folder, or a hub id such as `sentence-transformers/all-MiniLM-L6-v2` (downloaded once into
 * `~/.cache/sbert-train/hub`, or `$SBERT_TRAIN_CACHE`). Then `encoder.encode(texts, opts)`
 * gives one Float32Array per text, `encoder.save(dir)` writes a folder that Python
 * `SentenceTransformer(dir)` loads, and `encoder.dispose()` frees its weights.
 */
export async function loadEncoder(spec: string, opts: LoadOptions = {}): Promise<SentenceEncoder> {
  await ensureBackend();
  return loadEncoderInternal(spec, opts);
}

// ---- recipes and training ----
export type { Recipe, LossName, TrainDataset, EvaluatorConfig } from './recipe/index.js';
export { loadRecipe, parseRecipe, RECIPE_SCHEMA } from './recipe/index.js';
export type { StepInfo, EvalInfo };

/** What {@link train} returns: where the run and the tuned model are, and how it went. */
export interface TrainResult extends Omit<RunResult, 'modelDir'> {
  /** The tuned model's folder (sentence-transformers layout): load it with {@link loadEncoder}. */
  modelDir: string;
}

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> | null } : T;

/**
 * A recipe written as an object: the same keys as a recipe YAML (recipes/README.md lists them
 * with their defaults); `model.base` and `data.train` are required, everything else has a
 * default. Relative paths resolve against {@link TrainOptions.baseDir}.
 */
export type RecipeInput = DeepPartial<Recipe> & {
  model: DeepPartial<Recipe['model']> & { base: string };
  data: DeepPartial<Recipe['data']> & { train: string };
};

/** Options of {@link train}. */
export interface TrainOptions {
  /** Folder that relative paths in a recipe object resolve against (default: the working folder). A recipe file's paths resolve against its own folder. */
  baseDir?: string;
  /** Continue from the newest complete checkpoint in the run folder (default false). */
  resume?: boolean;
  /** With `resume`: go on although a data file changed since the checkpoint (default: refused). */
  allowChangedData?: boolean;
  /** Called after every optimizer step with its loss, learning rate and gradient norm. */
  onStep?: (info: StepInfo) => void;
  /** Called after every evaluation on the dev set with its metrics. */
  onEval?: (info: EvalInfo) => void;
  /** When it aborts, training writes a checkpoint at the next step and throws {@link TrainingAborted}. */
  signal?: AbortSignal;
  /** Progress on stderr: a bar on a terminal, else a line every 10% (default true; `SBERT_NO_PROGRESS=1` also turns it off). */
  progress?: boolean;
  /** Where status lines go (default: stderr). Pass `() => {}` for silence. */
  log?: (line: string) => void;
  /**
   * What runs the encoder's forward and backward passes: `onnx` (onnxruntime-node; the losses
   * stay in tfjs) or `tfjs` (the reference). Default: what the backend chose, as the CLI does
   * (`onnx` when onnxruntime-node loaded and tfjs-node is not installed).
   */
  engine?: 'tfjs' | 'onnx';
  /** onnxruntime intra-op threads for engine `onnx` (default: the backend's; keep it fixed for a bit-identical resume). */
  threads?: number;
}

/** The training engine: as asked, else the one the backend chose (src/backend trainingEngine). */
function chooseEngine(engine: 'tfjs' | 'onnx' | undefined, threads: number | undefined): { engine: 'tfjs' | 'onnx'; threads?: number; provider?: ExecutionProvider } {
  const chosen = trainingEngine();
  // engine 'onnx' runs on the execution provider the backend chose (onnx-webgpu, onnx-cuda), else the CPU
  const provider = 'provider' in chosen ? chosen.provider : undefined;
  if (engine === undefined) return chosen.engine === 'onnx' ? { engine: 'onnx', threads: threads ?? chosen.threads, provider } : { engine: 'tfjs' };
  return { engine, threads: threads ?? ('threads' in chosen ? chosen.threads : undefined), ...(engine === 'onnx' ? { provider } : {}) };
}

/**
 * Train as a recipe says and save the tuned model (recipe `output.model_dir`, default
 * `runs/<name>/model`). `recipe` is a YAML file path, an object with the recipe's keys
 * ({@link RecipeInput}, validated like a file: every problem in one ConfigError), or a
 * {@link Recipe} from {@link loadRecipe} / {@link parseRecipe}.
 */
export async function train(recipe: string | Recipe | RecipeInput, opts: TrainOptions = {}): Promise<TrainResult> {
  const { baseDir, ...rest } = opts;
  const resolved =
    typeof recipe === 'string'
      ? loadRecipe(recipe)
      : parseRecipe(recipe, { baseDir: baseDir === undefined ? process.cwd() : isAbsolute(baseDir) ? baseDir : resolve(baseDir) });
  await ensureBackend();
  const result = await trainInternal(resolved, {
    resume: rest.resume,
    allowChangedData: rest.allowChangedData,
    onStep: rest.onStep,
    onEval: rest.onEval,
    signal: rest.signal,
    progress: rest.progress,
    log: rest.log,
    ...chooseEngine(rest.engine, rest.threads),
  });
  return { ...result, modelDir: result.modelDir ?? resolved.output.model_dir };
}

// ---- text classification (task: classification; recipes/README.md) and data checks ----
export type { Classifier, ClassificationResult } from './training/classification.js';
export { classificationMetrics, balancedClassWeights, CLASSIFICATION_METRICS, type ClassificationMetrics } from './evaluation/classification-metrics.js';
export { checkFiles, checkSummary, type CheckReport, type CheckOptions } from './data/check.js';
export { augmentFile, augmentText, readSynonyms, AUGMENT_OPS, type AugmentOptions, type AugmentOp } from './data/augment.js';
// hard-negative mining (`sbert-train data mine-negatives`): mineHardNegatives(pairs, encoderEmbed(encoder), { margin: 0 })
export { mineHardNegatives, encoderEmbed, minedRows, type AnchorPositive, type MineOptions, type MineResult, type MinedPair, type EmbedFn } from './data/hard-negatives.js';

/**
 * Train a classifier from a recipe with `task: classification` (a head on the sentence
 * embedding; SetFit with `classification.setfit`), as the CLI does; same inputs as {@link train}.
 */
export async function trainClassifier(recipe: string | Recipe | RecipeInput, opts: TrainOptions = {}): Promise<ClassificationResult> {
  const { baseDir, ...rest } = opts;
  const resolved =
    typeof recipe === 'string'
      ? loadRecipe(recipe)
      : parseRecipe(recipe, { baseDir: baseDir === undefined ? process.cwd() : isAbsolute(baseDir) ? baseDir : resolve(baseDir) });
  if (resolved.task !== 'classification') throw new ConfigError(`trainClassifier: the recipe's task is '${resolved.task}'; set task: classification (or use train())`);
  await ensureBackend();
  return trainClassificationInternal(resolved, { onStep: rest.onStep, onEval: rest.onEval, signal: rest.signal, progress: rest.progress, log: rest.log, ...chooseEngine(rest.engine, rest.threads) });
}

/** Load a classifier saved by a classification run: `predict(texts)` gives labels, `predictProba(texts)` class probabilities. */
export async function loadClassifier(dir: string): Promise<Classifier> {
  await ensureBackend();
  return loadClassifierInternal(dir);
}

// ---- losses ----
export type { Loss, LabelRange } from './losses/index.js';
export { createLoss, LOSS_NAMES } from './losses/index.js';
export { createCosineMseLoss } from './losses/cosine-mse.js';
export { createAngularMseLoss } from './losses/angular-mse.js';
export { createContrastiveLoss } from './losses/contrastive.js';
export { createOnlineContrastiveLoss } from './losses/online-contrastive.js';
export { createMultipleNegativesRankingLoss } from './losses/multiple-negatives-ranking.js';
export { createCoSENTLoss } from './losses/cosent.js';
export { createTripletLoss } from './losses/triplet.js';
export { createMatryoshkaLoss, type MatryoshkaOptions } from './losses/matryoshka.js';
/** Matryoshka truncation as `encode({ dim })` does it: the first `dim` values of each row, L2-normalised again. */
export { truncateRows } from './models/prompts.js';

// ---- evaluation ----
export { evaluateSts, evaluateBinary, evaluateRetrieval, writeReport, DEFAULT_KS, perDimMetrics } from './evaluation/index.js';
export { evaluateTriplets, tripletMetrics, evaluateParaphraseMining, minePairs, paraphraseMiningMetrics, fileEvaluator, type Triplet, type ParaphraseData, type MinedParaphrase, type FileEvaluator, type FileEvaluatorSpec } from './evaluation/index.js';
export type { EvaluationResult, StsEvaluation, StsOptions, RetrievalData, RetrievalKs, ReportData, ReportPaths, ModelResults, ScatterData, TrainingHistory } from './evaluation/index.js';
export { pearson, spearman, averagePrecision, ndcg, dcg, reciprocalRank, precisionAtK, recallAtK, mrrAtK, ndcgAtK, mapAtK } from './evaluation/metrics.js';
export { readStsPairs, readLabelledPairs, type StsPair, type LabelledPair, type ColumnMapping } from './data/sts.js';

// ---- similarity of plain vectors ----
export { cosine, dot, euclidean, manhattan, angular, norm, normalized } from './similarity/index.js';

// ---- vector search (HNSW, cosine) ----
export { HnswIndex, type Hit, type Item, type IndexParams, type Calibration };
export { DEFAULT_PARAMS } from './search/hnsw-index.js';

/**
 * Options of {@link buildIndex} and {@link addToIndex}. `dim`, `promptName` and
 * `queryPromptName` (build only) are recorded in the index, which then embeds items and queries
 * that way (a Matryoshka prefix, the model's prompts).
 */
export interface IndexBuildOptions extends IndexEmbeddingOptions {
  /** Graph parameters (default M 32, efConstruction 200; ef calibrated unless given). */
  params?: Partial<IndexParams>;
  /** Recall@10 the default ef is calibrated for (default 0.98); ignored when `params.ef` is given. */
  targetRecall?: number;
  /** Texts per forward pass (default 32). */
  batchSize?: number;
  /** Progress on stderr, as for {@link TrainOptions.progress} (default true). */
  progress?: boolean;
}

/**
 * Embed `items` with `encoder` (L2-normalised) into a new HNSW index. Save it with
 * `index.save(dir)`, open it again with {@link loadIndex}; `index.add(vectors, items)`,
 * `index.remove(ids)` and `index.search(vector, k)` work on vectors directly.
 */
export async function buildIndex(encoder: Encoder, items: Item[], opts: IndexBuildOptions = {}): Promise<{ index: HnswIndex; calibration?: Calibration }> {
  await ensureBackend();
  const { model, documents } = await indexEmbedding(encoder, encoder.source, opts);
  return buildIndexInternal(documents, model, items, opts);
}

/** Embed `items` into an existing index (ids must be new); recalibrates ef when enough come in. */
export async function addToIndex(index: HnswIndex, encoder: Encoder, items: Item[], opts: Omit<IndexBuildOptions, 'params' | keyof IndexEmbeddingOptions> = {}): Promise<Calibration | undefined> {
  await ensureBackend();
  return addToIndexInternal(index, await sameModelView(index, encoder, 'document'), items, opts);
}

/** Open an index folder written by `index.save(dir)` or `sbert-train index build` (checked against its manifest). */
export function loadIndex(dir: string): HnswIndex {
  return HnswIndex.load(dir);
}

/** Options of {@link searchIndex}. */
export interface SearchOptions {
  /** Results per query (default 10). */
  k?: number;
  /** Search breadth (default: the index's, calibrated at build time). */
  ef?: number;
}

/**
 * The `k` items nearest to `query` (highest cosine first); given several queries, one list per
 * query. `encoder` must be the model the index was built with (same weights): another one
 * throws a UserError, since its vectors live in another space.
 */
export async function searchIndex(index: HnswIndex, encoder: Encoder, query: string, opts?: SearchOptions): Promise<Hit[]>;
export async function searchIndex(index: HnswIndex, encoder: Encoder, queries: readonly string[], opts?: SearchOptions): Promise<Hit[][]>;
export async function searchIndex(index: HnswIndex, encoder: Encoder, queries: string | readonly string[], opts: SearchOptions = {}): Promise<Hit[] | Hit[][]> {
  await ensureBackend();
  const view = await sameModelView(index, encoder, 'query');
  const texts = typeof queries === 'string' ? [queries] : [...queries];
  const vectors = await view.encode(texts, { normalize: true, progress: false });
  const hits = vectors.map((v) => index.search(v, opts.k ?? 10, opts.ef));
  return typeof queries === 'string' ? hits[0] : hits;
}

/** The index's own model, seen through its prefix size and prompt for `role` texts (src/search/view.ts). */
async function sameModelView(index: HnswIndex, encoder: Encoder, role: 'query' | 'document') {
  return indexedView(index.manifest(), encoder, await encoder.weightsHash(), 'this index', role);
}

// ---- heatmaps ----
export { writeHeatmap, renderHeatmap, cosineSimilarityMatrix, type HeatmapPanel, type HeatmapOptions, type RenderedHeatmap } from './viz/heatmap.js';
