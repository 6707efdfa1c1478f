/**
 * The model card: the README.md written into the tuned model's folder, saying what a
 * sentence-transformers model card says (https://sbert.net/docs/sentence_transformer/usage/model_cards.html,
 * `sentence_transformers/model_card.py`): base model and architecture, training data (files,
 * rows, columns, sample rows), the loss and its parameters, every hyperparameter, evaluation
 * before and after training on dev and test, framework versions, citations, and how to use the
 * model from sbert-train, Python sentence-transformers and transformers.js. Every number comes
 * from the run; `modelCard` is a pure function of them, so it is tested without training.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { isMultiDataset, type Recipe } from '../recipe/index.js';
import type { DataFingerprints, Example } from './data.js';
import { perDimMarkdown } from '../evaluation/per-dim.js';

export interface CardInput {
  recipe: Recipe;
  data: { train: Example[]; dev: Example[] | null; test: Example[] | null; fingerprints: DataFingerprints };
  loss: { name: string; params: Readonly<Record<string, unknown>> };
  model: { architecture: string; dim: number; maxSeqLength: number; pooling: string[]; dense: number; normalize: boolean };
  training: { steps: number; totalSteps: number; warmupSteps: number; best: { step: number; value: number } | null; stoppedEarly: boolean };
  /** Evaluation rows of the run (metrics.jsonl `eval` rows, step 0 = before training). */
  evals: Array<{ step: number; metrics: Record<string, number> }>;
  before: { dev: Record<string, number> | null; test: Record<string, number> | null };
  after: { dev: Record<string, number> | null; test: Record<string, number> | null };
  versions: Record<string, string>;
}

/** sentence-transformers' name for each loss, and the work it follows (BibTeX). */
const LOSSES: Record<string, { st: string; cite: string }> = {
  cosine_mse: { st: 'CosineSimilarityLoss', cite: '' },
  angular_mse: {
    st: 'CosineSimilarityLoss (angular distance, as the Universal Sentence Encoder trains STS)',
    cite: `@article{cer2018universal,
    title={Universal Sentence Encoder},
    author={Cer, Daniel and Yang, Yinfei and Kong, Sheng-yi and Hua, Nan and Limtiaco, Nicole and St. John, Rhomni and Constant, Noah and Guajardo-Cespedes, Mario and Yuan, Steve and Tar, Chris and Sung, Yun-Hsuan and Strope, Brian and Kurzweil, Ray},
    journal={arXiv preprint arXiv:1803.11175},
    year={2018},
    url={https://arxiv.org/abs/1803.11175}
}`,
  },
  contrastive: {
    st: 'ContrastiveLoss',
    cite: `@inproceedings{hadsell2006dimensionality,
    title={Dimensionality Reduction by Learning an Invariant Mapping},
    author={Hadsell, Raia and Chopra, Sumit and LeCun, Yann},
    booktitle={2006 IEEE Computer Society Conference on Computer Vision and Pattern Recognition (CVPR'06)},
    year={2006},
    doi={10.1109/CVPR.2006.100}
}`,
  },
  online_contrastive: { st: 'OnlineContrastiveLoss', cite: '' },
  multiple_negatives_ranking: {
    st: 'MultipleNegativesRankingLoss',
    cite: `@misc{henderson2017efficient,
    title={Efficient Natural Language Response Suggestion for Smart Reply},
    author={Henderson, Matthew and Al-Rfou, Rami and Strope, Brian and Sung, Yun-hsuan and Lukacs, Laszlo and Guo, Ruiqi and Kumar, Sanjiv and Miklos, Balint and Kurzweil, Ray},
    year={2017},
    eprint={1705.00652},
    archivePrefix={arXiv},
    url={https://arxiv.org/abs/1705.00652}
}`,
  },
  cosent: {
    st: 'CoSENTLoss',
    cite: `@online{kexuefm-8847,
    title={CoSENT: A more efficient sentence vector scheme than Sentence-BERT},
    author={Su Jianlin},
    year={2022},
    month={Jan},
    url={https://kexue.fm/archives/8847}
}`,
  },
  triplet: {
    st: 'TripletLoss',
    cite: `@inproceedings{schroff2015facenet,
    title={FaceNet: A Unified Embedding for Face Recognition and Clustering},
    author={Schroff, Florian and Kalenichenko, Dmitry and Philbin, James},
    booktitle={2015 IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
    year={2015},
    url={https://arxiv.org/abs/1503.03832}
}`,
  },
};

const SBERT_CITATION = `@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084"
}`;

/** transformers.js' feature-extraction pipeline pools 'mean' or 'cls' and applies no Dense layer. */
const TRANSFORMERS_JS_POOLING: Record<string, string> = { mean: 'mean', cls: 'cls' };

const fmt = (v: number | undefined) => (v === undefined ? '–' : Number.isFinite(v) ? v.toFixed(4) : 'n/a');
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const clip = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
/** A file's name without its folders: a card is shared, the folders are the trainer's machine's. */
const baseName = (file: string) => file.split(/[\\/]/).pop() ?? file;
/** A label as a person writes it: 0.84, not the 0.8400000000000001 that rescaling leaves. */
const label = (v: number) => String(Number(v.toPrecision(8)));

/** A hub id (`owner/name`) is what `base_model` in the card's metadata means; folders and builtins are not. */
function hubId(base: string): string | null {
  return /^[\w.-]+\/[\w.-]+$/.test(base) && !existsSync(base) ? base : null;
}

/** `| Metric | before | after |` over the union of keys, the monitored metric in bold. */
function beforeAfter(before: Record<string, number> | null, after: Record<string, number> | null, monitor: string): string[] {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  const rows = keys.map((k) => {
    const b = k === monitor ? '**' : '';
    return `| ${b}${k}${b} | ${fmt(before?.[k])} | ${b}${fmt(after?.[k])}${b} |`;
  });
  return ['| Metric | Before training | After training |', '|:--|--:|--:|', ...rows];
}

/** Every recipe value under `obj`, flattened to dotted keys. */
function flatten(obj: unknown, prefix: string, out: Array<[string, string]>): Array<[string, string]> {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, JSON.stringify(obj)]);
  }
  return out;
}

function columnsOf(recipe: Recipe, example: Example | undefined): string[] {
  const cols = recipe.data.columns.texts.map(String);
  const n = example?.texts.length ?? cols.length;
  const texts = cols.length >= n ? cols.slice(0, n) : [...cols, ...Array.from({ length: n - cols.length }, (_, i) => `text${cols.length + i}`)];
  return example?.label !== undefined ? [...texts, recipe.data.columns.label !== null ? String(recipe.data.columns.label) : 'label'] : texts;
}

/** The README.md for the tuned model's folder. */
export function modelCard(c: CardInput): string {
  const r = c.recipe;
  const loss = LOSSES[c.loss.name] ?? { st: c.loss.name, cite: '' };
  const base = hubId(r.model.base);
  const trainRows = c.data.train.length;
  const o: string[] = ['---'];
  if (base) o.push(`base_model: ${base}`);
  o.push('library_name: sentence-transformers', 'pipeline_tag: sentence-similarity', 'tags:', '- sentence-transformers', '- sentence-similarity', '- feature-extraction', '- sbert-train');
  o.push(`- dataset_size:${trainRows}`, `- loss:${loss.st.split(' ')[0]}`, '---', '');
  o.push(`# ${r.name}`, '');
  o.push(
    `A sentence-transformers model fine-tuned from \`${r.model.base}\` with [sbert-train](https://www.npmjs.com/package/sbert-train) on ${trainRows} training examples. ` +
      `It maps sentences and short texts to a ${c.model.dim}-dimensional dense vector space, for semantic similarity, search, clustering and classification.`,
    '',
  );

  o.push('## Model Details', '');
  o.push(`- **Base model:** \`${r.model.base}\` (${c.model.architecture})`);
  o.push(`- **Maximum sequence length:** ${c.model.maxSeqLength} tokens`);
  o.push(`- **Output dimensionality:** ${c.model.dim}`);
  const lora = r.model.lora;
  if (lora) {
    const where = r.output.merge_lora ? 'merged into the weights' : `saved alone in PEFT's layout (adapter_config.json, adapter_model.safetensors): loading it needs the base model \`${r.model.base}\` (Python: \`pip install peft\`)`;
    o.push(`- **LoRA adapter:** r ${lora.r}, alpha ${lora.alpha}, on ${lora.target ? lora.target.join(', ') : 'the attention query and value projections'}; ${where}`);
  }
  o.push('- **Similarity function:** cosine similarity');
  o.push(`- **Pipeline:** Transformer → Pooling (${c.model.pooling.join(' + ')})${c.model.dense ? ` → Dense ×${c.model.dense}` : ''}${c.model.normalize ? ' → Normalize' : ''}`);
  const files = Object.entries(c.data.fingerprints).map(([k, fp]) => `${k} \`${baseName(fp!.file)}\``); // train[<name>] per dataset of a list
  o.push(`- **Training data:** ${files.join(', ')}`);
  o.push('');

  o.push('## Usage', '', '### sbert-train (Node.js)', '', '```sh');
  o.push('npm install sbert-train');
  o.push('sbert-train encode --model path/to/this/folder --input texts.txt --output embeddings.npy');
  o.push('```', '', '```js');
  o.push("import { loadEncoder } from 'sbert-train';");
  o.push("const model = await loadEncoder('path/to/this/folder');");
  o.push("const [a, b] = await model.encode(['The weather is lovely today.', \"It's so sunny outside!\"], { normalize: true });");
  o.push('const cosine = a.reduce((s, x, i) => s + x * b[i], 0);');
  o.push('```', '', '### Python (sentence-transformers)', '', '```python');
  o.push('from sentence_transformers import SentenceTransformer');
  o.push('model = SentenceTransformer("path/to/this/folder")');
  o.push('embeddings = model.encode(["The weather is lovely today.", "It\'s so sunny outside!"])');
  o.push(`print(embeddings.shape)  # (2, ${c.model.dim})`);
  o.push('print(model.similarity(embeddings, embeddings))');
  o.push('```', '', '### transformers.js (after an ONNX export)', '', '```sh');
  o.push('sbert-train export onnx --model path/to/this/folder --out path/to/this/folder-onnx');
  o.push('```', '');
  const pooling = c.model.pooling.length === 1 && c.model.dense === 0 ? TRANSFORMERS_JS_POOLING[c.model.pooling[0]] : undefined;
  o.push('```js');
  o.push("import { pipeline, env } from '@huggingface/transformers';");
  o.push("env.localModelPath = 'path/to/'; env.allowRemoteModels = false;");
  o.push("const extractor = await pipeline('feature-extraction', 'this-folder-onnx');");
  if (pooling) {
    o.push(`const output = await extractor(['The weather is lovely today.'], { pooling: '${pooling}', normalize: ${c.model.normalize} });`);
    o.push('```', '');
  } else {
    o.push("const output = await extractor(['The weather is lovely today.']); // token embeddings: see below");
    o.push('```', '');
    o.push(
      `transformers.js' pipeline pools only \`mean\` or \`cls\` and applies no Dense layer, so it does not reproduce this model's ${c.model.pooling.join(' + ')} pooling${c.model.dense ? ' and Dense layer' : ''}; ` +
        'the exported `onnx/model.onnx` also returns `sentence_embedding`, the whole pipeline, for onnxruntime.',
      '',
    );
  }

  o.push('## Evaluation', '');
  o.push(`Metrics of the base model (before training) and of this model, on the run's own data; \`${r.evaluation.monitor}\` (bold) is the monitored metric.`, '');
  if (c.before.dev || c.after.dev) o.push(`### Dev (${c.data.dev?.length ?? 0} examples)`, '', ...beforeAfter(c.before.dev, c.after.dev, r.evaluation.monitor), '');
  if (c.before.test || c.after.test) o.push(`### Test (${c.data.test?.length ?? 0} examples)`, '', ...beforeAfter(c.before.test, c.after.test, r.evaluation.monitor), '');
  if (!c.before.dev && !c.after.dev && !c.before.test && !c.after.test) o.push('No dev or test set was given, so nothing was evaluated.', '');
  const perDim = perDimMarkdown([['dev', c.after.dev], ['test', c.after.test]]);
  if (perDim.length) {
    o.push('### Matryoshka dimensions', '', 'This model was trained with MatryoshkaLoss: the first d values of an embedding, re-normalised, are an embedding too (`sbert-train encode --dim d`; `SentenceTransformer(path, truncate_dim=d)`). Cosine correlations after training:', '', ...perDim, '');
  }

  o.push('## Training Details', '', '### Training Data', '');
  const sets: Array<[string, Example[] | null, string | undefined]> = [
    ['train', isMultiDataset(r) ? null : c.data.train, c.data.fingerprints.train?.file], // a list: one row per dataset, below
    ['dev', c.data.dev, c.data.fingerprints.dev?.file ?? (r.data.validation_split > 0 ? `${r.data.validation_split} of ${baseName(r.data.train as string)}, held out (seed ${r.training.seed})` : undefined)],
    ['test', c.data.test, c.data.fingerprints.test?.file],
  ];
  o.push('| Split | Source | Rows | sha256 |', '|:--|:--|--:|:--|');
  for (const [name, set, file] of sets) {
    if (!set) continue;
    const fp = c.data.fingerprints[name as 'train'];
    o.push(`| ${name} | \`${cell(baseName(file ?? ''))}\` | ${set.length} | ${fp && fp.rows === set.length ? `\`${fp.sha256.slice(0, 16)}…\`` : '–'} |`);
  }
  if (isMultiDataset(r)) {
    for (const d of r.data.train) {
      const fp = c.data.fingerprints[`train[${d.name}]`];
      if (fp) o.push(`| train: ${cell(d.name)} (loss \`${d.loss.name}\`) | \`${cell(baseName(d.file))}\` | ${fp.rows} | \`${fp.sha256.slice(0, 16)}…\` |`);
    }
    o.push('', `Batches come from one dataset at a time (\`training.multi_dataset_sampler: ${r.training.multi_dataset_sampler}\`), each trained with its dataset's loss.`);
  }
  o.push('');
  const cols = columnsOf(r, c.data.train[0]);
  o.push(`Columns: ${cols.map((x) => `\`${x}\``).join(', ')}${r.data.score_scale ? ` (scores rescaled from [${r.data.score_scale.join(', ')}] to [0, 1])` : ''}. The first ${Math.min(3, trainRows)} training rows:`, '');
  o.push(`| ${cols.map(cell).join(' | ')} |`, `|${cols.map(() => ':--').join('|')}|`);
  for (const e of c.data.train.slice(0, 3)) o.push(`| ${[...e.texts.map((t) => cell(clip(t))), ...(e.label !== undefined ? [label(e.label)] : [])].join(' | ')} |`);
  o.push('');

  o.push('### Loss', '');
  o.push(`\`${c.loss.name}\` (sentence-transformers \`${loss.st}\`) with parameters:`, '', '```json', JSON.stringify(c.loss.params, null, 2), '```', '');

  o.push('### Training Hyperparameters', '');
  o.push('| Hyperparameter | Value |', '|:--|:--|');
  const trainKey = typeof r.data.train === 'string' ? baseName(r.data.train) : r.data.train.map((d) => `${d.name}: ${baseName(d.file)} (${d.loss.name})`).join(', ');
  const dataKeys = { ...r.data, train: trainKey, dev: r.data.dev && baseName(r.data.dev), test: r.data.test && baseName(r.data.test) };
  for (const [section, values] of [['model', r.model], ['data', dataKeys], ['loss', r.loss], ['optimizer', r.optimizer], ['schedule', r.schedule], ['training', r.training], ['evaluation', r.evaluation]] as const) {
    for (const [k, v] of flatten(values, section, [])) o.push(`| \`${k}\` | \`${cell(v)}\` |`);
  }
  o.push(`| total steps (planned) | ${c.training.totalSteps} |`, `| warmup steps | ${c.training.warmupSteps} |`, `| steps run | ${c.training.steps}${c.training.stoppedEarly ? ' (stopped early)' : ''} |`);
  if (c.training.best) o.push(`| best ${cell(r.evaluation.monitor)} | ${fmt(c.training.best.value)} at step ${c.training.best.step}${r.evaluation.keep_best ? ' (the model saved)' : ''} |`);
  o.push('');

  if (c.evals.length) {
    const keys = [r.evaluation.monitor, 'dev_loss'].filter((k, i, a) => a.indexOf(k) === i && c.evals.some((e) => k in e.metrics));
    o.push('### Training Logs', '', `| Step | ${keys.join(' | ')} |`, `|--:|${keys.map(() => '--:').join('|')}|`);
    for (const e of c.evals) o.push(`| ${e.step} | ${keys.map((k) => fmt(e.metrics[k])).join(' | ')} |`);
    o.push('');
  }

  o.push('### Framework Versions', '');
  for (const [k, v] of Object.entries(c.versions)) o.push(`- ${k}: ${v}`);
  o.push('');

  o.push('## Citation', '', '### BibTeX', '', '#### Sentence Transformers', '', '```bibtex', SBERT_CITATION, '```', '');
  if (loss.cite) o.push(`#### ${loss.st.split(' ')[0]}`, '', '```bibtex', loss.cite, '```', '');
  return `${o.join('\n').trimEnd()}\n`;
}

/** Version of an installed package, found by walking up from its entry point (exports maps may hide package.json). */
function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    let dir = dirname(require.resolve(name));
    for (let i = 0; i < 6; i++) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
      dir = dirname(dir);
    }
  } catch {
    // not installed or not resolvable: reported as unknown
  }
  return 'unknown';
}

/** The versions a card lists: ours, Node's, and the libraries that computed the model. */
export function frameworkVersions(): Record<string, string> {
  let own = 'unknown';
  try {
    // src/training/ and dist/training/ both sit two folders below the package root
    own = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    // bundled without its package.json: reported as unknown
  }
  return {
    'sbert-train': own,
    'Node.js': process.versions.node,
    'TensorFlow.js (tfjs-core)': tf.version_core,
    'TensorFlow.js backend': tf.getBackend() ?? 'none',
    'Transformers.js (tokenizers)': packageVersion('@huggingface/transformers'),
  };
}
