/**
 * A builder for ONNX graphs: inputs, initializers, nodes and outputs by name, with fresh names
 * for intermediates and shared constants. The lowerings (./encoder.ts) and graph passes
 * (./quantize.ts) work on it; `toModel()` hands the result to ./proto.ts for bytes.
 *
 * Ops are the standard ai.onnx ones at opset 17 (https://onnx.ai/onnx/operators/); where an
 * op changed between opsets (ReduceSum's axes became an input at 13, ReduceMax's only at 18)
 * the helpers below follow opset 17.
 */
import { DataType, OPSET, rawBytes, type AttributeValue, type DataTypeCode, type ModelData, type NodeData, type TensorData, type ValueInfoData } from './proto.js';

export const attr = {
  i: (value: number): AttributeValue => ({ kind: 'int', value }),
  ints: (value: number[]): AttributeValue => ({ kind: 'ints', value }),
  f: (value: number): AttributeValue => ({ kind: 'float', value }),
  s: (value: string): AttributeValue => ({ kind: 'string', value }),
};

export class GraphBuilder {
  readonly nodes: NodeData[] = [];
  readonly initializers = new Map<string, TensorData>();
  readonly inputs: ValueInfoData[] = [];
  readonly outputs: ValueInfoData[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;

  constructor(readonly name = 'graph') {}

  /** A name not used yet, from `hint`. */
  fresh(hint: string): string {
    let n = hint;
    while (this.used.has(n)) n = `${hint}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  input(name: string, dataType: DataTypeCode, dims: (number | string)[]): string {
    if (this.used.has(name)) throw new Error(`internal: graph name ${name} used twice`);
    this.used.add(name);
    this.inputs.push({ name, dataType, dims });
    return name;
  }

  /** Declare `tensor` a graph output called `name` (an Identity renames it when needed). */
  output(name: string, tensor: string, dataType: DataTypeCode, dims: (number | string)[]): void {
    let t = tensor;
    if (t !== name) {
      if (this.used.has(name)) throw new Error(`internal: graph name ${name} used twice`);
      this.used.add(name);
      this.nodes.push({ opType: 'Identity', inputs: [tensor], outputs: [name], name: this.fresh(`${name}_identity`), attributes: {} });
      t = name;
    }
    this.outputs.push({ name: t, dataType, dims });
  }

  /** An initializer under exactly `name` (a weight's checkpoint name). */
  initializer(name: string, dataType: DataTypeCode, dims: number[], data: ArrayBufferView): string {
    if (this.used.has(name)) throw new Error(`internal: graph name ${name} used twice`);
    this.used.add(name);
    this.initializers.set(name, { name, dataType, dims, raw: rawBytes(data) });
    return name;
  }

  /** An initializer under a fresh name made from `hint` (constants, tables). */
  constantTensor(hint: string, dataType: DataTypeCode, dims: number[], data: ArrayBufferView): string {
    const name = this.fresh(hint);
    this.initializers.set(name, { name, dataType, dims, raw: rawBytes(data) });
    return name;
  }

  /** A float32 initializer (weights keep their checkpoint names). */
  floats(name: string, dims: number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`internal: ${name} has ${data.length} values, shape [${dims}] needs ${n}`);
    return this.initializer(name, DataType.FLOAT, dims, data);
  }

  /** An int64 constant (shared between uses); a number gives a scalar, an array a 1-D tensor. */
  int64(value: number | number[]): string {
    const values = Array.isArray(value) ? value : [value];
    const key = `i64:${Array.isArray(value) ? `[${values}]` : value}`;
    return this.constant(key, () => this.constantTensor(`const_i64_${values.join('_').replace(/-/g, 'm')}`.slice(0, 60), DataType.INT64, Array.isArray(value) ? [values.length] : [], BigInt64Array.from(values.map(BigInt))));
  }

  /** A float32 scalar constant (shared between uses). */
  float(value: number): string {
    return this.constant(`f32:${Math.fround(value)}`, () => this.constantTensor('const_f32', DataType.FLOAT, [], Float32Array.of(value)));
  }

  private constant(key: string, make: () => string): string {
    let name = this.constants.get(key);
    if (!name) {
      name = make();
      this.constants.set(key, name);
    }
    return name;
  }

  /** Add a node with `outputs` results; returns their names. */
  opN(opType: string, inputs: string[], outputs: number, attributes: Record<string, AttributeValue> = {}, hint = opType): string[] {
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? hint : `${hint}_${i}`));
    this.nodes.push({ opType, inputs, outputs: outs, name: this.fresh(`${hint}_node`), attributes });
    return outs;
  }

  /** Add a node with one result; returns its name. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, hint = opType): string {
    return this.opN(opType, inputs, 1, attributes, hint)[0];
  }

  // ---- a few ops with opset-17 signatures, so call sites read like the math ----

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }

  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }

  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }

  cast(x: string, to: DataTypeCode): string {
    return this.op('Cast', [x], { to: attr.i(to) });
  }

  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.int64(shape)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm: attr.ints(perm) });
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.int64(axes)]);
  }

  /** ReduceSum (axes as an input since opset 13). */
  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    return this.op('ReduceSum', [x, this.int64(axes)], { keepdims: attr.i(keepdims ? 1 : 0) });
  }

  /** ReduceMax / ReduceL2 (axes still an attribute at opset 17). */
  reduce(op: 'ReduceMax' | 'ReduceL2', x: string, axes: number[], keepdims: boolean): string {
    return this.op(op, [x], { axes: attr.ints(axes), keepdims: attr.i(keepdims ? 1 : 0) });
  }

  gather(data: string, indices: string, axis = 0): string {
    return this.op('Gather', [data, indices], { axis: attr.i(axis) });
  }

  /** Size of dimension `axis` of `x`, as an int64 scalar. */
  dim(x: string, axis: number): string {
    return this.gather(this.op('Shape', [x]), this.int64(axis));
  }

  /** Nodes in the order they were added are already topologically sorted; keep it that way. */
  toModel(meta: Omit<ModelData, 'graph'>): ModelData {
    return {
      ...meta,
      graph: { name: this.name, nodes: this.nodes, initializers: [...this.initializers.values()], inputs: this.inputs, outputs: this.outputs },
    };
  }
}

export { DataType, OPSET };
