/**
 * The two graphs of ONNX training: the forward pass, which is ./encoder.ts's lowering with
 * every weight a graph INPUT (not an initializer), so one session serves every step with the
 * weights of the moment, and which also outputs the activations the backward pass keeps; and
 * the backward graph of ./backward.ts, which reads those activations and the gradient of the
 * sentence embeddings and outputs one gradient per weight.
 *
 * Both have symbolic batch and sequence dims: one session each serves every batch shape.
 */
import { buildEncoderGraph, type EncoderSpec, type WeightSource } from './encoder.js';
import { buildBackwardGraph, savedDims } from './backward.js';
import { DataType } from './graph.js';
import type { ModelData } from './proto.js';

export interface TrainingGraphs {
  forward: ModelData;
  backward: ModelData;
  /** Weights the forward graph takes as inputs, by checkpoint name. */
  forwardWeights: string[];
  /** Weights the backward graph takes as inputs. */
  backwardWeights: string[];
  /** Weights the backward graph outputs `grad.<name>` for (all but the embedding tables). */
  gradWeights: string[];
  /** Saved activation key -> the forward graph's output that holds it. */
  saved: Map<string, string>;
  /** sentence_embedding's width. */
  dim: number;
}

const meta = (doc: string) => ({ producerName: 'sbert-train', producerVersion: '0.1.0', docString: doc });

export function buildTrainingGraphs(spec: EncoderSpec): TrainingGraphs {
  const forwardWeights: string[] = [];
  const weightInput: WeightSource = (g, name, shape) => {
    forwardWeights.push(name);
    return g.input(name, DataType.FLOAT, shape);
  };
  const taps = new Map<string, string>();
  const { graph, dim } = buildEncoderGraph(spec, weightInput, (key, tensor) => taps.set(key, tensor));

  // Training needs no last_hidden_state: drop the output and the Identity that named it.
  const drop = graph.outputs.findIndex((o) => o.name === 'last_hidden_state');
  if (drop >= 0) graph.outputs.splice(drop, 1);
  const identity = graph.nodes.findIndex((n) => n.outputs[0] === 'last_hidden_state');
  if (identity >= 0) graph.nodes.splice(identity, 1);

  const back = buildBackwardGraph(spec);
  const saved = new Map<string, string>();
  const declared = new Set(graph.outputs.map((o) => o.name));
  for (const key of back.savedKeys) {
    const tensor = taps.get(key);
    if (!tensor) throw new Error(`internal: the backward graph needs activation '${key}', which the forward lowering does not tap`);
    saved.set(key, tensor);
    // Outputs keep the tensor's own name (no Identity copy); one output per tensor.
    if (!declared.has(tensor)) {
      graph.output(tensor, tensor, DataType.FLOAT, savedDims(spec, key));
      declared.add(tensor);
    }
  }
  return {
    forward: graph.toModel(meta('sentence encoder, training forward (weights as inputs)')),
    backward: back.graph.toModel(meta('sentence encoder, backward')),
    forwardWeights,
    backwardWeights: back.weightInputs,
    gradWeights: back.gradWeights,
    saved,
    dim,
  };
}
