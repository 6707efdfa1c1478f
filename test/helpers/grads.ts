/**
 * How far one set of weight gradients is from a reference, weight by weight: the largest
 * absolute difference over the tensor's own scale (its largest |value|, but at least 1e-3 of the
 * largest |value| of any tensor: a gradient that is zero in exact arithmetic, such as the
 * attention key bias's, where softmax ignores a constant added to a row, is rounding noise on
 * both sides).
 */
import assert from 'node:assert/strict';

export function relativeErrors(ref: Map<string, Float32Array>, got: Map<string, Float32Array>, what = 'the compared side'): Map<string, number> {
  let globalMax = 0;
  for (const g of ref.values()) for (const x of g) globalMax = Math.max(globalMax, Math.abs(x));
  const out = new Map<string, number>();
  for (const [name, a] of ref) {
    const b = got.get(name);
    assert.ok(b, `${what} gives no gradient for ${name}`);
    assert.equal(b.length, a.length, name);
    let diff = 0;
    let scale = 1e-3 * globalMax;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    out.set(name, diff / scale);
  }
  return out;
}
