/**
 * Save models with sbert-train and record what sbert-train computes for them, for
 * check_saved_model.py to load the folders in Python sentence-transformers and compare.
 *
 *   node --import tsx benchmarks/peers/export_saved_models.ts OUT_DIR [--backend cpu]
 *
 * Writes OUT_DIR/NAME/ (a sentence-transformers folder written by `Encoder.save`) and
 * OUT_DIR/NAME.json ({model, source, texts, input_ids, embeddings}) for:
 *   - builtin-tiny: `builtin:tiny` as is (byte-level tokenizer, mean pooling);
 *   - builtin-dense-normalize: the same with its weights re-drawn (std 0.2, LayerNorm
 *     1 + 0.2 N(0,1)) so no layer is near its default, plus Dense(tanh) and Normalize;
 *   - every parity fixture under test/fixtures/parity/ (loaded and saved again), which checks
 *     the writer for each architecture.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend/index.js';
import { loadEncoder, seededNormal, type SentenceEncoder } from '../../src/models/index.js';
import { writeFileAtomic } from '../../src/util/fs.js';

const TEXTS = [
  'A man is playing a guitar.',
  'the dog runs',
  '',
  'Naïve café in Köln',
  '東京 data scientist 🚀',
  '  leading and trailing spaces  ',
  'software developer, senior (remote) - 100%',
];

function perturb(enc: SentenceEncoder, seed: number): void {
  const normal = seededNormal(seed);
  for (const [name, v] of enc.namedWeights()) {
    const isLnWeight = /(LayerNorm|layer_norm)\.weight$/.test(name);
    const values = new Float32Array(v.size).map(() => (isLnWeight ? 1 : 0) + 0.2 * normal());
    v.assign(tf.tensor(values, v.shape, 'float32'));
  }
}

async function record(enc: SentenceEncoder, name: string, out: string): Promise<void> {
  const dir = join(out, name);
  await enc.save(dir);
  const batch = enc.tokenize(TEXTS);
  const ids: number[][] = [];
  for (let b = 0; b < batch.batchSize; b++) {
    const row: number[] = [];
    for (let t = 0; t < batch.seqLen; t++) if (batch.attentionMask[b * batch.seqLen + t]) row.push(batch.inputIds[b * batch.seqLen + t]);
    ids.push(row);
  }
  const embeddings = (await enc.encode(TEXTS, { batchSize: TEXTS.length })).map((r) => Array.from(r));
  writeFileAtomic(join(out, `${name}.json`), JSON.stringify({ model: name, source: enc.source, texts: TEXTS, input_ids: ids, embeddings }) + '\n');
  process.stdout.write(`${name}: saved ${dir} (dim ${enc.dim})\n`);
  enc.dispose();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--'));
  if (!out) throw new Error('usage: export_saved_models.ts OUT_DIR [--backend cpu|wasm]');
  const bi = args.indexOf('--backend');
  await initBackend(bi >= 0 ? args[bi + 1] : 'cpu');
  mkdirSync(out, { recursive: true });

  await record(await loadEncoder('builtin:tiny'), 'builtin-tiny', out);

  const dense = await loadEncoder('builtin:tiny', { seed: 7 });
  dense.addDense(48, 'tanh', 11);
  dense.setNormalize(true);
  perturb(dense, 13);
  await record(dense, 'builtin-dense-normalize', out);

  const fixtures = resolve('test/fixtures/parity');
  if (existsSync(fixtures)) {
    for (const f of readdirSync(fixtures).sort()) {
      const dir = join(fixtures, f);
      if (statSync(dir).isDirectory() && existsSync(join(dir, 'modules.json'))) await record(await loadEncoder(dir), `resaved-${f}`, out);
    }
  }
}

await main();
