/**
 * `sbert-train export onnx --model M --out DIR [--quantize int8] [--force]`: write DIR, a
 * model folder that transformers.js (`pipeline('feature-extraction', DIR)`) and onnxruntime
 * load as is (onnx/model.onnx with last_hidden_state and sentence_embedding, tokenizer and
 * config files beside it) and that is still a sentence-transformers folder. See
 * src/engine/onnx/export.ts for the layout.
 */
import type { Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend/index.js';
import { ModelError, isUserError } from '../errors.js';
import { loadEncoder, type SentenceEncoder } from '../models/index.js';
import { QUANTIZE_MODES, checkTarget, exportOnnx, type QuantizeMode } from '../engine/onnx/index.js';

interface ExportArgs {
  format: string;
  model: string;
  out: string;
  quantize?: QuantizeMode;
  force: boolean;
  backend: string;
}

async function load(spec: string): Promise<SentenceEncoder> {
  try {
    return await loadEncoder(spec);
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new ModelError(`${spec}: cannot load model: ${(e as Error).message.split('\n')[0]}`);
  }
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <format>',
  describe: 'export a model for another runtime (onnx: transformers.js / onnxruntime folder)',
  builder: (y: Argv) =>
    y
      .positional('format', { type: 'string', choices: ['onnx'], describe: 'target format' })
      .option('model', { type: 'string', demandOption: true, describe: 'model folder, hub id, or builtin:tiny' })
      .option('out', { type: 'string', demandOption: true, describe: 'folder to write (must not exist or be empty)' })
      .option('quantize', { type: 'string', choices: [...QUANTIZE_MODES], describe: 'also write onnx/model_quantized.onnx (dynamic 8-bit weights)' })
      .option('force', { type: 'boolean', default: false, describe: 'replace --out if an earlier export wrote it' })
      .example('$0 export onnx --model ./out/model --out ./out/model-onnx --quantize int8', '') as unknown as Argv<ExportArgs>,
  handler: async (argv) => {
    checkTarget(argv.out, argv.force); // before the (slow) model load
    await initBackend(argv.backend);
    const encoder = await load(argv.model);
    try {
      const r = await exportOnnx(encoder, argv.out, { quantize: argv.quantize, force: argv.force });
      process.stdout.write(`wrote ${r.dir}: onnx/model.onnx (${mb(r.bytes.model)}; inputs ${r.inputs.join(', ')}; sentence_embedding dim ${r.dim}; max abs diff to sbert-train ${r.maxAbsDiff.toExponential(1)})\n`);
      if (r.bytes.quantized !== undefined) {
        process.stdout.write(`  onnx/model_quantized.onnx (${mb(r.bytes.quantized)}, ${((100 * r.bytes.quantized) / r.bytes.model).toFixed(0)}% of float; min cosine to float ${r.quantizedMinCosine!.toFixed(4)})\n`);
      }
    } finally {
      encoder.dispose();
    }
  },
};
