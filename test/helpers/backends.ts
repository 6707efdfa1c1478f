/**
 * The backends that backend-parametrised tests run on: `SBERT_TEST_BACKENDS` (comma-separated,
 * e.g. `wasm` to skip onnx while working on tfjs), by default wasm (tfjs's forward pass) and
 * onnx (the ONNX lowering in onnxruntime-node). Parametrised tests loop over this list, so a
 * case is written once and runs on each.
 */
import { BACKENDS } from '../../src/backend/index.js';

function parse(value: string | undefined): string[] {
  const names = (value ?? 'wasm,onnx')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) if (!(BACKENDS as readonly string[]).includes(n)) throw new Error(`SBERT_TEST_BACKENDS: unknown backend '${n}' (valid: ${BACKENDS.join(', ')})`);
  return names;
}

export const TEST_BACKENDS: string[] = parse(process.env.SBERT_TEST_BACKENDS);
