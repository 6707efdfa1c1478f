/**
 * A training run on the onnx engine (1 thread) in its own process, for the kill -9 test in
 * test/onnx-training.test.ts. Args: JSON {recipe, baseDir}, then 'slow' (300 ms after each
 * step) or 'resume'. Prints `step N` after each step and `weights <sha256>` at the end.
 */
import { initBackend } from '../../src/backend/index.js';
import { parseRecipe } from '../../src/recipe/index.js';
import { train } from '../../src/training/index.js';

const { recipe, baseDir } = JSON.parse(process.argv[2]) as { recipe: Record<string, unknown>; baseDir: string };
const mode = process.argv[3];
await initBackend('wasm', { quiet: true });
const r = await train(parseRecipe(recipe, { baseDir }), {
  engine: 'onnx',
  threads: 1,
  resume: mode === 'resume',
  skipSave: true,
  progress: false,
  log: (l) => process.stdout.write(`${l}\n`),
  onStep: (s) => process.stdout.write(`step ${s.step}\n`),
  test: mode === 'slow' ? { stepDelayMs: 300 } : undefined,
});
process.stdout.write(`weights ${r.weightsHash}\n`);
