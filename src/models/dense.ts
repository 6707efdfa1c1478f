/**
 * sentence-transformers' Dense module: y = activation(x W^T + b), used to project or squash
 * the pooled embedding. Its config names the activation by its torch class path.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/models/Dense.py
 */
import * as tf from '@tensorflow/tfjs-core';
import { activation, linear } from '../backend/ops.js';
import { ModelError } from '../errors.js';
import { toVariable, transpose2d } from './transformer.js';

const TORCH_ACTIVATIONS: Record<string, string> = {
  'torch.nn.modules.activation.Tanh': 'tanh',
  'torch.nn.modules.linear.Identity': 'identity',
  'torch.nn.modules.activation.ReLU': 'relu',
  'torch.nn.modules.activation.GELU': 'gelu',
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.activation.SiLU': 'silu',
};

export function activationFromTorch(path: string, file: string): string {
  const name = TORCH_ACTIVATIONS[path];
  if (!name) throw new ModelError(`${file}: unsupported activation_function '${path}'; supported: ${Object.keys(TORCH_ACTIVATIONS).join(', ')}`);
  return name;
}

export function activationToTorch(name: string): string {
  const entry = Object.entries(TORCH_ACTIVATIONS).find(([, v]) => v === name);
  if (!entry) throw new Error(`internal: no torch name for activation ${name}`);
  return entry[0];
}

export class DenseLayer {
  readonly kernel: tf.Variable; // [in, out]
  readonly bias: tf.Variable | null; // [out]
  private readonly fn: (x: tf.Tensor) => tf.Tensor;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly activationName: string,
    /** PyTorch layout [out, in]. */
    weight: Float32Array,
    bias: Float32Array | null,
    readonly prefix: string,
  ) {
    this.fn = activation(activationName);
    this.kernel = toVariable(transpose2d(weight, outFeatures, inFeatures), [inFeatures, outFeatures]);
    this.bias = bias ? toVariable(bias, [outFeatures]) : null;
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.fn(linear(x, this.kernel as tf.Tensor2D, (this.bias ?? undefined) as tf.Tensor1D | undefined)) as tf.Tensor2D);
  }

  config(): Record<string, unknown> {
    return { in_features: this.inFeatures, out_features: this.outFeatures, bias: this.bias !== null, activation_function: activationToTorch(this.activationName) };
  }

  /** PyTorch-layout weights from the host copies of `kernel` and `bias`. */
  exportWeights(kernel: Float32Array, bias: Float32Array | null): Map<string, { shape: number[]; data: Float32Array }> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    out.set('linear.weight', { shape: [this.outFeatures, this.inFeatures], data: transpose2d(kernel, this.inFeatures, this.outFeatures) });
    if (this.bias && bias) out.set('linear.bias', { shape: [this.outFeatures], data: new Float32Array(bias) });
    return out;
  }

  dispose(): void {
    this.kernel.dispose();
    this.bias?.dispose();
  }
}
