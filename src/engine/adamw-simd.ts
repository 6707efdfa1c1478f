/**
 * The AdamW update as one WebAssembly SIMD kernel (f32x4), for ../adamw.ts: four weights per
 * instruction in native float32, where the JS loop does one in float64 with a Math.fround per
 * term. Every f32x4 op used (add, sub, mul, div, sqrt) is correctly rounded IEEE float32, and
 * WebAssembly never fuses a multiply-add, so the result is bit-identical to the JS loop and to
 * src/training/optimizer.ts (test/onnx-training.test.ts checks all three against each other).
 *
 * Per lane, with the scalars splatted: (the order of src/training/optimizer.ts)
 *   m' = m + (g - m) * c1            c1 = 1 - beta1
 *   v' = v * b2 + (g * g) * c2       c2 = 1 - beta2
 *   p' = p * keep - (m' / (sqrt(v') / bc2 + eps)) * stepSize
 *
 * The module is written out byte by byte below (no toolchain); opcodes from the WebAssembly
 * core spec and its fixed-width SIMD proposal
 * (https://webassembly.github.io/spec/core/binary/instructions.html).
 */

const OP = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Shl: 0x74,
  simd: 0xfd,
  void: 0x40,
};
/** SIMD sub-opcodes (after 0xfd, as unsigned LEB128). */
const SIMD = { load: 0, store: 11, splat: 19, sqrt: 227, add: 228, sub: 229, mul: 230, div: 231 };

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

const str = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

// params: 0 p, 1 g, 2 m, 3 v (byte offsets), 4 n4 (groups of 4 floats), 5..11 keep c1 b2 c2 bc2 eps stepSize (f32)
// locals: 12 o (byte offset), 13..19 the splatted scalars, 20 m', 21 v', 22 g
const P = 0, G = 1, M = 2, V = 3, N = 4;
const O = 12, K = 13, C1 = 14, B2 = 15, C2 = 16, BC2 = 17, EPS = 18, SS = 19, MN = 20, VN = 21, GV = 22;

function kernelBody(): number[] {
  const get = (i: number) => [OP.localGet, i];
  const set = (i: number) => [OP.localSet, i];
  const simd = (op: number, ...imm: number[]) => [OP.simd, ...uleb(op), ...imm];
  const at = (base: number) => [...get(base), ...get(O), OP.i32Add]; // base + o
  const load = (base: number) => [...at(base), ...simd(SIMD.load, 4, 0)];
  const store = simd(SIMD.store, 4, 0);
  const code: number[] = [];
  for (let j = 0; j < 7; j++) code.push(...get(5 + j), ...simd(SIMD.splat), ...set(K + j));
  code.push(...get(N), OP.i32Const, 4, OP.i32Shl, ...set(N)); // groups -> bytes
  code.push(OP.block, OP.void, OP.loop, OP.void);
  code.push(...get(O), ...get(N), OP.i32GeU, OP.brIf, 1);
  code.push(...load(G), ...set(GV));
  // m' = m + (g - m) * c1
  code.push(...load(M), ...get(GV), ...load(M), ...simd(SIMD.sub), ...get(C1), ...simd(SIMD.mul), ...simd(SIMD.add), ...set(MN));
  // v' = v * b2 + (g * g) * c2
  code.push(...load(V), ...get(B2), ...simd(SIMD.mul), ...get(GV), ...get(GV), ...simd(SIMD.mul), ...get(C2), ...simd(SIMD.mul), ...simd(SIMD.add), ...set(VN));
  code.push(...at(M), ...get(MN), ...store, ...at(V), ...get(VN), ...store);
  // p' = p * keep - (m' / (sqrt(v') / bc2 + eps)) * stepSize
  code.push(...at(P), ...load(P), ...get(K), ...simd(SIMD.mul));
  code.push(...get(MN), ...get(VN), ...simd(SIMD.sqrt), ...get(BC2), ...simd(SIMD.div), ...get(EPS), ...simd(SIMD.add), ...simd(SIMD.div));
  code.push(...get(SS), ...simd(SIMD.mul), ...simd(SIMD.sub), ...store);
  code.push(...get(O), OP.i32Const, 16, OP.i32Add, ...set(O), OP.br, 0);
  code.push(OP.end, OP.end, OP.end);
  // locals: 1 x i32, 10 x v128
  const locals = vec([[1, 0x7f], [10, 0x7b]]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const I32 = 0x7f;
  const F32 = 0x7d;
  const type = [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [F32], [F32], [F32], [F32], [F32], [F32], [F32]]), 0];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([type])),
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, ...uleb(1)]])), // memory, min 1 page
    ...section(3, vec([[0]])),
    ...section(7, vec([[...str('adamw'), 0x00, 0]])),
    ...section(10, vec([kernelBody()])),
  ];
  return new Uint8Array(bytes);
}

type Kernel = (p: number, g: number, m: number, v: number, n4: number, keep: number, c1: number, b2: number, c2: number, bc2: number, eps: number, stepSize: number) => void;

const PAGE = 65536;
/** Floats of p and g staged per kernel call. */
const CHUNK = 1 << 18;

/**
 * Moments of every weight (m and v, each padded to a multiple of 4 floats) in one WebAssembly
 * memory, plus a staging area the weights and gradients are copied through in chunks.
 */
export class SimdAdamW {
  private readonly memory: WebAssembly.Memory;
  private readonly kernel: Kernel;
  private readonly offsets = new Map<string, { m: number; v: number; size: number }>();
  /** Bytes used: staging first (p then g), then the moments. */
  private top = 2 * CHUNK * 4;

  private constructor(memory: WebAssembly.Memory, kernel: Kernel) {
    this.memory = memory;
    this.kernel = kernel;
  }

  /** Null where WebAssembly SIMD is not available (the caller keeps the JS loop). */
  static create(): SimdAdamW | null {
    try {
      const memory = new WebAssembly.Memory({ initial: Math.ceil((2 * CHUNK * 4) / PAGE) });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()), { env: { memory } });
      return new SimdAdamW(memory, instance.exports.adamw as Kernel);
    } catch {
      return null;
    }
  }

  has(name: string): boolean {
    return this.offsets.has(name);
  }

  /** Room for a weight's moments (zeros), once. */
  allocate(name: string, size: number): void {
    if (this.offsets.has(name)) return;
    const bytes = Math.ceil(size / 4) * 16;
    const m = this.top;
    const v = m + bytes;
    this.top = v + bytes;
    const need = Math.ceil(this.top / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (need > 0) this.memory.grow(need); // fresh pages are zero
    this.offsets.set(name, { m, v, size });
  }

  /** The moments of `name` (views into the memory: copy before the next allocate). */
  moments(name: string): { m: Float32Array; v: Float32Array } | null {
    const o = this.offsets.get(name);
    if (!o) return null;
    return { m: new Float32Array(this.memory.buffer, o.m, o.size), v: new Float32Array(this.memory.buffer, o.v, o.size) };
  }

  names(): string[] {
    return [...this.offsets.keys()];
  }

  /** One update of p in place (moments of `name` must be allocated). Scalars already float32. */
  update(name: string, p: Float32Array, g: Float32Array, s: { keep: number; c1: number; b2: number; c2: number; bc2: number; eps: number; stepSize: number }): void {
    const o = this.offsets.get(name)!;
    const buf = this.memory.buffer;
    const stageP = new Float32Array(buf, 0, CHUNK);
    const stageG = new Float32Array(buf, CHUNK * 4, CHUNK);
    for (let start = 0; start < p.length; start += CHUNK) {
      const n = Math.min(CHUNK, p.length - start);
      stageP.set(p.subarray(start, start + n));
      stageG.set(g.subarray(start, start + n));
      this.kernel(0, CHUNK * 4, o.m + start * 4, o.v + start * 4, Math.ceil(n / 4), s.keep, s.c1, s.b2, s.c2, s.bc2, s.eps, s.stepSize);
      p.set(stageP.subarray(0, n), start);
    }
  }

  clear(): void {
    this.offsets.clear();
    this.top = 2 * CHUNK * 4;
    new Uint8Array(this.memory.buffer).fill(0);
  }
}
