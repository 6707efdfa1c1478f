/**
 * The backends that backend-parametrised tests run on: `SBERT_TEST_BACKENDS` (comma-separated,
 * e.g. `wasm` to skip onnx while working on tfjs), by default wasm (tfjs's forward pass and the
 * tfjs training path) and onnx (the ONNX lowering in onnxruntime-node and the onnx training
 * engine). Parametrised tests loop over this list, so a case is written once and runs on each:
 * CLI tests pass `--backend <b>`, in-process ones call {@link useBackend}.
 */
import assert from 'node:assert/strict';
import { BACKENDS, initBackend, trainingEngine } from '../../src/backend/index.js';

function parse(value: string | undefined): string[] {
  const names = (value ?? 'wasm,onnx')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) if (!(BACKENDS as readonly string[]).includes(n)) throw new Error(`SBERT_TEST_BACKENDS: unknown backend '${n}' (valid: ${BACKENDS.join(', ')})`);
  return names;
}

export const TEST_BACKENDS: string[] = parse(process.env.SBERT_TEST_BACKENDS);

/**
 * Switch this process to `backend` (quietly) and return the training-engine options the CLI
 * would pass to src/training's train() on it: `{ engine: 'tfjs' }` on wasm, `{ engine: 'onnx',
 * threads, ... }` on onnx. Spread them into train()'s options.
 */
export async function useBackend(backend: string): Promise<ReturnType<typeof trainingEngine>> {
  await initBackend(backend, { quiet: true, training: true });
  return trainingEngine();
}

type Reported = Record<string, number | ArrayLike<number>>;

/** What the first backend reported for each check, by the check's name. */
const firstReport = new Map<string, { backend: string; values: Reported }>();

/**
 * Cross-backend agreement: the first backend to report `what` sets its numbers (named scalars,
 * named arrays such as weights, or a list); every later backend must give each number within
 * `tol` (absolute). Engines round differently (float32 sums in another order), so exact equality
 * across backends is not expected; determinism within a backend is checked exactly by the tests
 * themselves. Tests in a file run in order, so a loop over TEST_BACKENDS reports the first
 * backend's numbers before the others'.
 */
export function agreeAcrossBackends(what: string, backend: string, values: Reported | readonly number[], tol: number): void {
  const mine: Reported = Array.isArray(values) ? { values: values as readonly number[] } : (values as Reported);
  const first = firstReport.get(what);
  if (!first) {
    firstReport.set(what, { backend, values: mine });
    return;
  }
  assert.deepEqual(Object.keys(mine).sort(), Object.keys(first.values).sort(), `${what}: ${backend} and ${first.backend} report different keys`);
  let worst = 0;
  for (const [k, want] of Object.entries(first.values)) {
    const got = mine[k];
    const [a, b] = typeof want === 'number' ? [[got as number], [want]] : [got as ArrayLike<number>, want];
    assert.equal(a.length, b.length, `${what} ${k}: ${backend} has ${a.length} numbers, ${first.backend} ${b.length}`);
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      if (!(d <= tol)) assert.fail(`${what} ${typeof want === 'number' ? k : `${k}[${i}]`}: ${backend} ${a[i]}, ${first.backend} ${b[i]} (tolerance ${tol})`);
      worst = Math.max(worst, d);
    }
  }
  // The margin, for whoever tightens or loosens a tolerance later.
  process.stdout.write(`${what}: ${backend} vs ${first.backend}, largest difference ${worst.toExponential(2)} (tolerance ${tol})\n`);
}
