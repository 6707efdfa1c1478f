/**
 * The `sbert-train` CLI. Each command lives in its own file; this one wires them up and is the
 * single place that turns errors into exit codes: a UserError prints one line and exits with
 * its code (2); so does a failed file-system call (no space, file too large, read-only, a
 * path that is a folder...: IoError, naming the operation and the path); anything else is a
 * bug and keeps its stack trace.
 */
import yargs from 'yargs';
import { asIoError, isUserError } from '../errors.js';
import { BACKENDS, configureBackend } from '../backend/index.js';
import { trainCommand } from './train.js';
import { encodeCommand } from './encode.js';
import { evalCommand } from './eval.js';
import { heatmapCommand } from './heatmap.js';
import { indexCommand } from './index-cmd.js';
import { searchCommand } from './search.js';
import { serveCommand } from './serve.js';
import { dataCommand } from './data.js';
import { exportCommand } from './export.js';

export async function main(argv: string[]): Promise<number> {
  try {
    await yargs(argv)
      .scriptName('sbert-train')
      .usage('$0 <recipe.yaml> | $0 <command> [options]')
      .option('backend', {
        type: 'string',
        default: 'auto',
        choices: [...BACKENDS],
        describe: 'compute backend; onnx = encode/eval/search/serve on onnxruntime-node (training stays on tfjs); auto = tfjs-node(-gpu) if installed, else wasm, else cpu, with onnx for inference when onnxruntime-node loads',
        global: true,
      })
      .option('threads', {
        type: 'string',
        describe: 'onnxruntime threads for --backend onnx / auto (default: the number of physical cores)',
        global: true,
      })
      .middleware((argv) => configureBackend({ threads: argv.threads }))
      .command(trainCommand)
      .command(encodeCommand)
      .command(evalCommand)
      .command(heatmapCommand)
      .command(indexCommand)
      .command(searchCommand)
      .command(serveCommand)
      .command(dataCommand)
      .command(exportCommand)
      .demandCommand(1, 'give a recipe file or a command (see --help)')
      .strict()
      .fail((msg, err) => {
        if (err) throw err;
        throw new UsageError(msg);
      })
      .help()
      .version()
      .parseAsync();
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (caught) {
    const e = asIoError(caught);
    if (e instanceof UsageError) {
      process.stderr.write(`sbert-train: ${e.message}\n(see sbert-train --help)\n`);
      return 2;
    }
    if (isUserError(e)) {
      process.stderr.write(`sbert-train: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

class UsageError extends Error {}
