/**
 * The classifier head of task: classification: a linear layer on the sentence embedding,
 * logits = e W^T + b (torch.nn.Linear layout, W [classes, dim]), softmax over the classes, and
 * its loss, cross-entropy with optional class weights as torch.nn.CrossEntropyLoss(weight=w)
 * with mean reduction:
 *
 *   loss = sum_i w[y_i] * -log softmax(logits_i)[y_i]  /  sum_i w[y_i]
 *
 * (= scikit-learn log_loss with sample_weight w[y_i]; test/classification.test.ts checks both.)
 *
 * Saved beside the encoder in `<model>/classifier/`: model.safetensors (`linear.weight`,
 * `linear.bias`) and config.json (labels in class order, the head kind, dims), so a model folder
 * stays a sentence-transformers folder and the head is one more file pair a loader can read.
 */
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelError } from '../errors.js';
import { seededNormal } from '../models/builtin.js';
import { toVariable } from '../models/transformer.js';
import { expectTensor, readSafetensors, writeSafetensors } from '../models/safetensors.js';
import { writeFileAtomic } from '../util/fs.js';

/** The head's folder inside a saved model. */
export const CLASSIFIER_DIR = 'classifier';

export interface HeadConfig {
  labels: string[];
  head: 'softmax' | 'logistic';
  in_features: number;
  out_features: number;
}

/** Weighted mean cross-entropy of logits [B, k] against class indices; `weights` [k] or null. */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D | null): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(labels, k), tf.logSoftmax(logits)), 1)); // [B]
    if (weights === null) return tf.mean(nll) as tf.Scalar;
    const w = tf.gather(weights, labels); // [B]
    return tf.div(tf.sum(tf.mul(w, nll)), tf.sum(w)) as tf.Scalar;
  });
}

export class ClassifierHead {
  readonly weight: tf.Variable; // [k, dim]
  readonly bias: tf.Variable; // [k]

  constructor(
    readonly config: HeadConfig,
    values?: { weight: Float32Array; bias: Float32Array },
    seed = 42,
  ) {
    const { in_features: dim, out_features: k } = config;
    let w = values?.weight;
    if (!w) {
      // torch.nn.Linear's default init bound 1/sqrt(dim), as a seeded normal of that scale.
      const rnd = seededNormal(seed);
      w = Float32Array.from({ length: k * dim }, () => rnd() / Math.sqrt(dim));
    }
    this.weight = toVariable(w, [k, dim], `classifier.linear.weight.${uid()}`);
    this.bias = toVariable(values?.bias ?? new Float32Array(k), [k], `classifier.linear.bias.${uid()}`);
  }

  /** The head's variables by their saved name. */
  named(): Map<string, tf.Variable> {
    return new Map([
      ['linear.weight', this.weight],
      ['linear.bias', this.bias],
    ]);
  }

  logits(embeddings: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(embeddings, this.weight, false, true), this.bias) as tf.Tensor2D);
  }

  /** Class probabilities of each embedding row. */
  async predictProba(embeddings: Float32Array[]): Promise<Float32Array[]> {
    const k = this.config.out_features;
    if (embeddings.length === 0) return [];
    const p = tf.tidy(() => tf.softmax(this.logits(tf.tensor2d(concat(embeddings), [embeddings.length, this.config.in_features]))));
    const data = (await p.data()) as Float32Array;
    p.dispose();
    return embeddings.map((_, i) => data.slice(i * k, (i + 1) * k));
  }

  async save(modelDir: string): Promise<void> {
    const dir = join(modelDir, CLASSIFIER_DIR);
    mkdirSync(dir, { recursive: true });
    const [w, b] = await Promise.all([this.weight.data(), this.bias.data()]);
    writeSafetensors(
      join(dir, 'model.safetensors'),
      new Map([
        ['linear.weight', { shape: this.weight.shape, data: w as Float32Array }],
        ['linear.bias', { shape: this.bias.shape, data: b as Float32Array }],
      ]),
    );
    writeFileAtomic(join(dir, 'config.json'), `${JSON.stringify(this.config, null, 2)}\n`);
  }

  static load(modelDir: string): ClassifierHead {
    const dir = join(modelDir, CLASSIFIER_DIR);
    const cfgFile = join(dir, 'config.json');
    if (!existsSync(cfgFile)) throw new ModelError(`${modelDir}: no ${CLASSIFIER_DIR}/config.json (not a model trained with task: classification)`);
    let cfg: HeadConfig;
    try {
      cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as HeadConfig;
    } catch (e) {
      throw new ModelError(`${cfgFile}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (!Array.isArray(cfg.labels) || cfg.labels.length !== cfg.out_features || !Number.isInteger(cfg.in_features)) {
      throw new ModelError(`${cfgFile}: labels, in_features and out_features do not agree`);
    }
    const file = join(dir, 'model.safetensors');
    const t = readSafetensors(file);
    const w = expectTensor(t, 'linear.weight', [cfg.out_features, cfg.in_features], file);
    const b = expectTensor(t, 'linear.bias', [cfg.out_features], file);
    return new ClassifierHead(cfg, { weight: w.data, bias: b.data });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

let counter = 0;
/** tfjs variable names must be unique per process; two heads may live side by side. */
function uid(): number {
  counter += 1;
  return counter;
}

export function concat(rows: readonly Float32Array[]): Float32Array {
  const dim = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}
