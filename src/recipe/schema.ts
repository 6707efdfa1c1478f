/**
 * The recipe schema: every key a recipe may hold, its type, range and default, with a one-line
 * "why" for each default. This is the one place defaults live; recipes/README.md documents the
 * same table and a test keeps the two in step.
 *
 * The shape follows nanoGPT's `train.py` (defaults up front, example configs are short
 * overrides) and changesets' `config/src/parse.ts` (schema first, then defaults, then
 * cross-field rules, every problem reported at once).
 */

import { CLASSIFICATION_SCHEMA } from './classification.js';
import { LORA_TARGETS } from '../models/lora-targets.js';

export type FieldSpec =
  | { kind: 'string'; default?: string | null; nullable?: boolean; required?: boolean; why: string; doc?: string }
  | { kind: 'number'; default?: number | null; nullable?: boolean; required?: boolean; min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean; integer?: boolean; why: string; doc?: string }
  | { kind: 'boolean'; default?: boolean | null; nullable?: boolean; why: string; doc?: string }
  | { kind: 'enum'; values: readonly string[]; default?: string | null; nullable?: boolean; required?: boolean; why: string; doc?: string }
  | { kind: 'numberPair'; default?: [number, number] | null; nullable?: boolean; min?: number; max?: number; exclusiveMax?: boolean; why: string; doc?: string }
  | { kind: 'columnList'; default?: (string | number)[]; minItems: number; why: string; doc?: string }
  | { kind: 'column'; default?: string | number | null; nullable?: boolean; why: string; doc?: string }
  | { kind: 'object'; fields: Record<string, FieldSpec>; nullable?: boolean; default?: null; why?: string; doc?: string }
  /** A list whose every item is checked against `items` (paths `key[i]`). */
  | { kind: 'list'; items: ItemSpec; minItems?: number; maxItems?: number; unique?: boolean; nullable?: boolean; required?: boolean; default?: unknown[] | null; why: string; doc?: string }
  /** A mapping from free-form names to values checked against `values` (prompts by name, ...). */
  | { kind: 'map'; values: ItemSpec; nullable?: boolean; default?: Record<string, unknown> | null; why: string; doc?: string }
  /**
   * One of several shapes, told apart by the value's YAML type (a string, a number, a boolean, a
   * list or a mapping): the first option of that type checks it. E.g. a file name or a list of
   * datasets.
   */
  | { kind: 'oneOf'; options: FieldSpec[]; nullable?: boolean; required?: boolean; default?: unknown; why: string; doc?: string };

/** The spec of a list item or map value: a field without its own `why` (the list's says it). */
export type ItemSpec = FieldSpec extends infer F ? (F extends { why?: string } ? Omit<F, 'why'> & { why?: string } : never) : never;

export const LOSS_NAMES = [
  'cosine_mse',
  'angular_mse',
  'contrastive',
  'online_contrastive',
  'multiple_negatives_ranking',
  'cosent',
  'triplet',
  'multiple_negatives_symmetric_ranking',
  'angle',
] as const;

export const POOLING_MODES = ['mean', 'cls', 'max'] as const;
/**
 * What a recipe trains: `embedding` the Siamese sentence encoder (the losses above), `mlm`
 * masked-language-model pretraining on domain text, `distill` a student from a teacher's
 * embeddings, `classification` a head on the sentence embedding.
 */
export const TASKS = ['embedding', 'mlm', 'distill', 'classification'] as const;
export const OPTIMIZERS = ['adamw', 'adam'] as const;
/** How batches of several training datasets are interleaved (src/data/multi-dataset.ts). */
export const MULTI_DATASET_SAMPLERS = ['proportional', 'round_robin'] as const;
/** Evaluators that `evaluation.evaluators` may list (src/evaluation). */
export const EVALUATOR_TYPES = ['sts', 'binary', 'retrieval', 'triplet', 'paraphrase_mining'] as const;
export const SCHEDULES = ['constant', 'linear', 'cosine'] as const;

export const RECIPE_SCHEMA: { kind: 'object'; fields: Record<string, FieldSpec> } = {
  kind: 'object',
  fields: {
    name: { kind: 'string', nullable: true, default: null, why: 'null = the recipe file name without .yaml; names the default output folder' },
    task: { kind: 'enum', values: TASKS, default: 'embedding', why: 'sentence-embedding fine-tuning is what most recipes do; mlm, distill and classification are the domain-adaptation steps around it' },
    model: {
      kind: 'object',
      fields: {
        base: { kind: 'string', required: true, why: 'no default: which model to tune is the one choice only the user can make', doc: 'folder, hub id (e.g. sentence-transformers/all-MiniLM-L6-v2) or builtin:tiny' },
        pooling: { kind: 'enum', values: POOLING_MODES, nullable: true, default: null, why: "null = keep the model's own pooling (its modules.json), so a tuned model stays what it was" },
        normalize: { kind: 'boolean', nullable: true, default: null, why: "null = keep the model's own Normalize module (or its absence)" },
        max_seq_length: { kind: 'number', integer: true, min: 1, max: 8192, nullable: true, default: null, why: "null = the model's own limit; lower it to train faster on short texts" },
        dense: {
          kind: 'object',
          nullable: true,
          default: null,
          why: 'null = no projection: most models are used at their native width',
          doc: 'optional Dense projection after pooling, as sentence_transformers.models.Dense',
          fields: {
            out_features: { kind: 'number', integer: true, min: 1, required: true, why: 'no default: the projected width is the reason to add the layer' },
            activation: { kind: 'enum', values: ['tanh', 'identity'], default: 'tanh', why: 'sentence-transformers Dense uses tanh by default' },
            bias: { kind: 'boolean', default: true, why: 'sentence-transformers Dense has a bias by default' },
          },
        },
        prompts: { kind: 'map', values: { kind: 'string' }, nullable: true, default: null, why: "null = keep the model's own prompts (config_sentence_transformers.json); else these replace them in the saved model", doc: 'prompt name -> text prepended to inputs, e.g. {query: "query: ", document: "passage: "}' },
        default_prompt_name: { kind: 'string', nullable: true, default: null, why: 'null = no prompt unless one is asked for (encode --prompt-name); else a name in model.prompts used by default', doc: 'saved as default_prompt_name' },
        lora: {
          kind: 'object',
          nullable: true,
          default: null,
          why: 'null = train every weight; a mapping trains LoRA adapters only (PEFT layout), a small fraction of the weights and optimizer state',
          doc: 'low-rank adapters on the named linear layers; the base weights stay frozen',
          fields: {
            r: { kind: 'number', integer: true, min: 1, max: 4096, default: 8, why: "PEFT LoraConfig's default rank" },
            alpha: { kind: 'number', min: 0, exclusiveMin: true, default: 8, why: "PEFT LoraConfig's default lora_alpha; the update is scaled by alpha / r" },
            dropout: { kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0, why: "PEFT's default lora_dropout; only 0 trains here (nothing in training applies dropout), other values are refused" },
            target: {
              kind: 'list',
              items: { kind: 'enum', values: LORA_TARGETS, why: 'a PEFT target_modules name' },
              minItems: 1,
              unique: true,
              nullable: true,
              default: null,
              why: "null = the attention query and value projections (PEFT's default: query, value; q_lin, v_lin for distilbert; q, v for mpnet)",
              doc: 'PEFT target_modules: a name matches every layer whose module name is it or ends with .name',
            },
          },
        },
      },
    },
    data: {
      kind: 'object',
      fields: {
        train: { kind: 'string', required: true, why: 'no default: training needs data', doc: 'csv, tsv or jsonl file; relative to the recipe folder' },
        dev: { kind: 'string', nullable: true, default: null, why: 'null = no dev set (unless validation_split carves one from train)' },
        test: { kind: 'string', nullable: true, default: null, why: 'null = no final test evaluation' },
        columns: {
          kind: 'object',
          fields: {
            texts: { kind: 'columnList', minItems: 1, default: ['sentence1', 'sentence2'], why: 'the usual STS / NLI pair column names', doc: 'text columns in loss order (anchor, positive[, negative]); names or 0-based indices' },
            label: { kind: 'column', nullable: true, default: 'score', why: 'the usual STS score column; null for unlabelled losses (multiple_negatives_ranking, triplet)' },
          },
        },
        format: { kind: 'enum', values: ['csv', 'tsv', 'jsonl'], nullable: true, default: null, why: 'null = from the file extension; tsv for tab-separated files named .csv (STS Benchmark)' },
        header: { kind: 'boolean', nullable: true, default: null, why: 'null = csv/tsv have a header row exactly when columns are given by name' },
        score_scale: { kind: 'numberPair', nullable: true, default: null, why: 'null = use labels as they are; [0, 5] maps STS scores to 0..1', doc: '[low, high] of the raw labels, mapped linearly to [0, 1]' },
        validation_split: { kind: 'number', min: 0, max: 1, exclusiveMax: true, default: 0, why: '0 = no split; 0.2 = hold out 20% of train as dev (seeded)' },
        on_bad_row: { kind: 'enum', values: ['error', 'skip'], default: 'error', why: 'a malformed row is usually a mapping mistake: stop and say where' },
      },
    },
    loss: {
      kind: 'object',
      fields: {
        name: { kind: 'enum', values: LOSS_NAMES, default: 'cosine_mse', why: 'scored pairs are the commonest fine-tuning data (sentence-transformers CosineSimilarityLoss)' },
        margin: { kind: 'number', min: 0, exclusiveMin: true, nullable: true, default: null, why: "null = the loss's own default (contrastive 0.5, triplet 5)" },
        scale: { kind: 'number', min: 0, exclusiveMin: true, nullable: true, default: null, why: "null = the loss's own default (20 for multiple_negatives_ranking, multiple_negatives_symmetric_ranking, cosent and angle)" },
        distance: { kind: 'enum', values: ['cosine', 'euclidean', 'manhattan'], nullable: true, default: null, why: "null = the loss's own default (contrastive and online_contrastive cosine, triplet euclidean)" },
        matryoshka: {
          kind: 'object',
          nullable: true,
          default: null,
          why: 'null = train the full embedding only',
          doc: 'Matryoshka: the loss on each truncated, re-normalised prefix, weighted sum (sentence-transformers MatryoshkaLoss)',
          fields: {
            dims: { kind: 'list', items: { kind: 'number', integer: true, min: 1 }, minItems: 1, unique: true, required: true, why: 'no default: the sizes to keep useful depend on the model (e.g. [384, 256, 128, 64])', doc: 'prefix sizes, each at most the embedding size' },
            weights: { kind: 'list', items: { kind: 'number', min: 0, exclusiveMin: true }, minItems: 1, nullable: true, default: null, why: 'null = weight 1 for every dim (sentence-transformers default)', doc: 'one weight per dim' },
          },
        },
      },
    },
    optimizer: {
      kind: 'object',
      fields: {
        name: { kind: 'enum', values: OPTIMIZERS, default: 'adamw', why: 'decoupled weight decay is the transformer fine-tuning standard (Loshchilov & Hutter 2019)' },
        lr: { kind: 'number', min: 0, exclusiveMin: true, max: 10, default: 1e-3, why: 'torch.optim.AdamW default; transformer fine-tuning usually wants 2e-5' },
        betas: { kind: 'numberPair', min: 0, max: 1, exclusiveMax: true, default: [0.9, 0.999], why: 'torch.optim.AdamW default' },
        eps: { kind: 'number', min: 0, exclusiveMin: true, default: 1e-8, why: 'torch.optim.AdamW default (Keras uses 1e-7)' },
        weight_decay: { kind: 'number', min: 0, nullable: true, default: null, why: 'null = torch default for the optimizer: 0.01 for adamw, 0 for adam' },
        decay_bias_and_norm: { kind: 'boolean', default: false, why: 'sentence-transformers and the transformers Trainer leave biases and LayerNorm weights out of weight decay' },
        clip_grad_norm: { kind: 'number', min: 0, exclusiveMin: true, nullable: true, default: null, why: 'null = no clipping (torch default); 1.0 is the usual transformer value' },
        clip_scope: { kind: 'enum', values: ['global', 'per_variable'], default: 'global', why: 'global norm as torch.nn.utils.clip_grad_norm_; per_variable = Keras clipnorm' },
      },
    },
    schedule: {
      kind: 'object',
      fields: {
        name: { kind: 'enum', values: SCHEDULES, default: 'linear', why: 'transformers Trainer and sentence-transformers default: linear decay' },
        warmup_steps: { kind: 'number', integer: true, min: 0, default: 0, why: 'transformers default: no warmup' },
        warmup_ratio: { kind: 'number', min: 0, max: 1, exclusiveMax: true, nullable: true, default: null, why: 'null = use warmup_steps; else ceil(ratio x total steps), as transformers' },
      },
    },
    training: {
      kind: 'object',
      fields: {
        epochs: { kind: 'number', integer: true, min: 1, default: 1, why: 'sentence-transformers default; most fine-tuning converges in 1-4 epochs' },
        max_steps: { kind: 'number', integer: true, min: 1, nullable: true, default: null, why: 'null = run all epochs; else stop after this many optimizer steps' },
        batch_size: { kind: 'number', integer: true, min: 1, max: 65536, default: 16, why: 'sentence-transformers default; fits CPU memory for base-size models' },
        grad_accum_steps: { kind: 'number', integer: true, min: 1, default: 1, why: '1 = update every batch; N = average N batches per update (larger effective batch)' },
        multi_dataset_sampler: { kind: 'enum', values: MULTI_DATASET_SAMPLERS, default: 'proportional', why: 'sentence-transformers default: every batch of every dataset is used, larger datasets more often', doc: 'with a list in data.train: which dataset each batch comes from (round_robin: in turn, until the smallest runs out)' },
        mini_batch_size: { kind: 'number', integer: true, min: 1, nullable: true, default: null, why: 'null = the whole batch in one pass; N = embed N rows at a time (GradCache): same loss and gradients, memory of N rows, about a third more compute', doc: 'cached in-batch negatives: the batch_size that the loss sees, in the memory that mini_batch_size needs' },
        prompts: { kind: 'list', items: { kind: 'string', nullable: true }, minItems: 1, nullable: true, default: null, why: 'null = texts as they are; else one name of model.prompts (or null) per text column, prepended in training and evaluation', doc: 'per-column prompts in loss order, e.g. [query, document]' },
        shuffle: { kind: 'boolean', default: true, why: 'reshuffle each epoch (seeded), as a DataLoader with shuffle=True' },
        no_duplicates: { kind: 'boolean', nullable: true, default: null, why: 'null = on for in-batch-negative losses (a duplicate text is a false negative), off otherwise' },
        seed: { kind: 'number', integer: true, min: 0, max: 2 ** 31 - 1, default: 42, why: 'fixed so two runs of one recipe give the same model' },
        freeze: {
          kind: 'object',
          fields: {
            embeddings: { kind: 'boolean', default: false, why: 'train everything unless data is small' },
            layers: { kind: 'number', integer: true, min: 0, default: 0, why: '0 = all layers trainable; N freezes the lowest N (small-data mode)' },
          },
        },
        log_every: { kind: 'number', integer: true, min: 1, default: 10, why: 'one metrics.jsonl line per 10 optimizer steps keeps the file small' },
        checkpoint_every: { kind: 'number', integer: true, min: 1, nullable: true, default: 500, why: 'a crash loses at most 500 steps; null = only at the end and on Ctrl-C' },
        keep_checkpoints: { kind: 'number', integer: true, min: 1, default: 2, why: 'two: the newest plus one older in case the newest is bad' },
      },
    },
    evaluation: {
      kind: 'object',
      fields: {
        every_steps: { kind: 'number', integer: true, min: 1, nullable: true, default: null, why: 'null = evaluate at epoch end only' },
        at_epoch_end: { kind: 'boolean', default: true, why: 'one dev score per epoch is the cheapest useful curve' },
        batch_size: { kind: 'number', integer: true, min: 1, default: 32, why: 'inference needs no gradients, so larger batches fit' },
        monitor: { kind: 'string', nullable: true, default: null, why: 'null = spearman_cosine when the dev set has scores, else dev_loss' },
        mode: { kind: 'enum', values: ['max', 'min'], nullable: true, default: null, why: 'null = min for *loss metrics, max otherwise' },
        keep_best: { kind: 'boolean', default: true, why: 'the saved model is the best dev score, not the last step' },
        early_stopping: {
          kind: 'object',
          fields: {
            patience: { kind: 'number', integer: true, min: 1, nullable: true, default: null, why: 'null = never stop early' },
            min_delta: { kind: 'number', min: 0, default: 0, why: 'any improvement counts (Keras EarlyStopping default)' },
          },
        },
      },
    },
    mlm: {
      kind: 'object',
      doc: 'task: mlm only (src/training/mlm.ts)',
      fields: {
        probability: { kind: 'number', min: 0, exclusiveMin: true, max: 1, exclusiveMax: true, default: 0.15, why: "BERT's masking rate (transformers DataCollatorForLanguageModeling mlm_probability)" },
        whole_word: { kind: 'boolean', default: false, why: 'false = mask tokens independently, as BERT; true masks whole words (DataCollatorForWholeWordMask), which helps on domain words split into many pieces' },
      },
    },
    distill: {
      kind: 'object',
      doc: 'task: distill only (src/training/distill.ts)',
      fields: {
        teacher: { kind: 'string', nullable: true, default: null, why: 'null = model.base: the usual case, a smaller copy of the tuned model learns its embeddings', doc: 'folder, hub id or builtin: whose sentence embeddings the student learns (MSE)' },
        student: {
          kind: 'object',
          fields: {
            layers: {
              kind: 'list',
              items: { kind: 'number', integer: true, min: 0, why: '' },
              minItems: 1,
              unique: true,
              nullable: true,
              default: null,
              why: 'null = model.base keeps all its layers; [0, 2] keeps those transformer layers (DistilBERT-style layer selection)',
            },
          },
        },
        speed_texts: { kind: 'number', integer: true, min: 1, default: 1000, why: 'texts timed per model for the teacher vs student encode speed (from the training texts)' },
      },
    },
    classification: CLASSIFICATION_SCHEMA,
    output: {
      kind: 'object',
      fields: {
        dir: { kind: 'string', nullable: true, default: null, why: 'null = runs/<name> under the current folder' },
        model_dir: { kind: 'string', nullable: true, default: null, why: 'null = <dir>/model' },
        overwrite: { kind: 'boolean', default: false, why: 'never silently replace a previous run' },
        merge_lora: { kind: 'boolean', default: false, why: 'false = save the LoRA adapter alone in the PEFT layout (small; loads on its base); true = a plain model with the adapter merged in' },
      },
    },
  },
};

type ObjectSpec = Extract<FieldSpec, { kind: 'object' }>;
const DATA_FIELDS = (RECIPE_SCHEMA.fields.data as ObjectSpec).fields;
const EVALUATION_FIELDS = (RECIPE_SCHEMA.fields.evaluation as ObjectSpec).fields;

/**
 * One item of a `data.train` list (several datasets in one run): the same keys as data.* and
 * loss.* (the very specs above, so the two cannot drift); a key an item leaves out is taken from
 * data.* / loss.* when the recipe is resolved (src/recipe/datasets.ts).
 */
export const TRAIN_DATASET_SPEC: ObjectSpec = {
  kind: 'object',
  fields: {
    name: { kind: 'string', nullable: true, default: null, why: 'null = the file name without extension; names the dataset in metrics (loss/<name>)' },
    file: { ...(DATA_FIELDS.train as Extract<FieldSpec, { kind: 'string' }>), doc: 'csv, tsv or jsonl file of this dataset; relative to the recipe folder' },
    columns: { ...(DATA_FIELDS.columns as ObjectSpec), nullable: true, default: null, why: 'null = data.columns' },
    format: DATA_FIELDS.format,
    header: DATA_FIELDS.header,
    score_scale: DATA_FIELDS.score_scale,
    loss: { ...(RECIPE_SCHEMA.fields.loss as ObjectSpec), nullable: true, default: null, why: 'null = the top-level loss' },
  },
};

DATA_FIELDS.train = {
  kind: 'oneOf',
  required: true,
  why: 'no default: training needs data',
  doc: 'a csv, tsv or jsonl file (relative to the recipe folder), or a list of datasets, each with its own columns and loss',
  options: [DATA_FIELDS.train, { kind: 'list', minItems: 1, items: TRAIN_DATASET_SPEC, why: 'several datasets in one run; each batch comes from one of them' }],
};

/** One item of `evaluation.evaluators`: an extra evaluation set scored at every evaluation. */
export const EVALUATOR_SPEC: ObjectSpec = {
  kind: 'object',
  fields: {
    type: { kind: 'enum', values: EVALUATOR_TYPES, required: true, why: 'no default: what the file holds decides the evaluator' },
    file: { kind: 'string', required: true, why: 'no default: the evaluation data', doc: 'csv, tsv or jsonl file; relative to the recipe folder' },
    name: { kind: 'string', nullable: true, default: null, why: 'null = the file name without extension; prefixes its metrics (<name>_cosine_accuracy)' },
    columns: { ...(DATA_FIELDS.columns as ObjectSpec), nullable: true, default: null, why: 'null = data.columns', doc: 'sts, binary, paraphrase_mining: two texts and a label; retrieval: query, document; triplet: anchor, positive, negative' },
    format: DATA_FIELDS.format,
    header: DATA_FIELDS.header,
  },
};

EVALUATION_FIELDS.evaluators = {
  kind: 'list',
  items: EVALUATOR_SPEC,
  default: [],
  why: 'none: the dev set (data.dev) is evaluated as before; list more sets to score them too',
  doc: 'evaluators run at every evaluation; evaluation.monitor may name any metric they report',
};

/** Metrics the monitor may name besides what the STS evaluator reports. */
export const LOSS_MONITORS = ['dev_loss'] as const;
