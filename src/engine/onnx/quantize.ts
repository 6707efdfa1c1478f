/**
 * Dynamic 8-bit quantization of a graph's weight MatMuls, the scheme onnxruntime's
 * `quantize_dynamic` uses (https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html):
 * weights are quantized once, here; activations at run time by DynamicQuantizeLinear.
 *
 *   y = x @ W   becomes
 *   xq, xs, xz = DynamicQuantizeLinear(x)                      uint8, per tensor
 *   y = Cast(MatMulInteger(xq, Wq, xz, Wz), float) * (xs * Ws)  Wq uint8 [K, N], Ws / Wz per column [N]
 *
 * Weights are uint8 with a per-column scale and zero point (asymmetric, the range of each
 * column including 0). uint8 x uint8 rather than uint8 x int8 because onnxruntime's u8s8
 * kernels on x86 CPUs without VNNI can saturate 16-bit intermediate sums (its docs suggest
 * `reduce_range` for that); u8u8 has no such case, so the result is the same on every CPU.
 * Only MatMuls whose second input is a 2-D float initializer are rewritten; embeddings
 * (Gather), LayerNorm and attention products stay float.
 */
import { DataType, type ModelData, type NodeData, type TensorData } from './proto.js';

export interface QuantizeReport {
  /** MatMuls rewritten. */
  matmuls: number;
  /** Weights (float values) now stored as 8 bits. */
  weights: number;
}

function floatsOf(t: TensorData): Float32Array {
  return new Float32Array(t.raw.buffer.slice(t.raw.byteOffset, t.raw.byteOffset + t.raw.byteLength));
}

/** Per-column asymmetric uint8 quantization of a [K, N] matrix. */
export function quantizeColumns(w: Float32Array, K: number, N: number): { q: Uint8Array; scale: Float32Array; zeroPoint: Uint8Array } {
  const q = new Uint8Array(K * N);
  const scale = new Float32Array(N);
  const zeroPoint = new Uint8Array(N);
  for (let j = 0; j < N; j++) {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < K; i++) {
      const v = w[i * N + j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    // rounded to float32 first: the graph stores it so, and the values are rounded against it
    const s = hi > lo ? Math.fround((hi - lo) / 255) : 1;
    const z = Math.min(255, Math.max(0, Math.round(-lo / s)));
    scale[j] = s;
    zeroPoint[j] = z;
    for (let i = 0; i < K; i++) q[i * N + j] = Math.min(255, Math.max(0, Math.round(w[i * N + j] / s) + z));
  }
  return { q, scale, zeroPoint };
}

/** A copy of `model` with its weight MatMuls quantized (the input model is not changed). */
export function quantizeDynamic(model: ModelData): { model: ModelData; report: QuantizeReport } {
  const g = model.graph;
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of g.outputs) uses.set(o.name, (uses.get(o.name) ?? 0) + 1);

  const nodes: NodeData[] = [];
  const added: TensorData[] = [];
  const dropped = new Set<string>();
  const quantizedInputs = new Map<string, string[]>(); // x -> [xq, xs, xz], shared by q, k, v
  const report: QuantizeReport = { matmuls: 0, weights: 0 };
  const node = (opType: string, inputs: string[], outputs: string[], name: string, attributes: NodeData['attributes'] = {}) => nodes.push({ opType, inputs, outputs, name, attributes });

  for (const n of g.nodes) {
    const w = n.opType === 'MatMul' ? inits.get(n.inputs[1]) : undefined;
    if (!w || w.dataType !== DataType.FLOAT || w.dims.length !== 2) {
      nodes.push(n);
      continue;
    }
    const [K, N] = w.dims;
    const { q, scale, zeroPoint } = quantizeColumns(floatsOf(w), K, N);
    const wq = `${w.name}_quantized`;
    const ws = `${w.name}_scale`;
    const wz = `${w.name}_zero_point`;
    added.push(
      { name: wq, dataType: DataType.UINT8, dims: [K, N], raw: q },
      { name: ws, dataType: DataType.FLOAT, dims: [N], raw: new Uint8Array(scale.buffer) },
      { name: wz, dataType: DataType.UINT8, dims: [N], raw: zeroPoint },
    );
    if (uses.get(w.name) === 1) dropped.add(w.name);

    const x = n.inputs[0];
    let xq = quantizedInputs.get(x);
    if (!xq) {
      xq = [`${n.name}_x_quantized`, `${n.name}_x_scale`, `${n.name}_x_zero_point`];
      node('DynamicQuantizeLinear', [x], xq, `${n.name}_quantize_input`);
      quantizedInputs.set(x, xq);
    }
    const acc = `${n.name}_int32`;
    node('MatMulInteger', [xq[0], wq, xq[2], wz], [acc], `${n.name}_integer`);
    node('Cast', [acc], [`${n.name}_float`], `${n.name}_cast`, { to: { kind: 'int', value: DataType.FLOAT } });
    node('Mul', [xq[1], ws], [`${n.name}_scale`], `${n.name}_scale_product`);
    node('Mul', [`${n.name}_float`, `${n.name}_scale`], [n.outputs[0]], `${n.name}_rescale`);
    report.matmuls++;
    report.weights += K * N;
  }
  const initializers = [...g.initializers.filter((t) => !dropped.has(t.name)), ...added];
  return { model: { ...model, graph: { ...g, nodes, initializers } }, report };
}
