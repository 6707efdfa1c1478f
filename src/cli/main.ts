/**
 * The `sbert-train` CLI. Each command lives in its own file; this one wires them up and is the
 * single place that turns errors into exit codes: a UserError prints one line and exits with
 * its code (2); so does a failed file-system call (no space, file too large, read-only, a
 * path that is a folder...: IoError, naming the operation and the path); anything else is a
 * bug and keeps its stack trace.
 */
import yargs, { type Argv, type CommandModule } from 'yargs';
import { asIoError, isUserError, UserError } from '../errors.js';
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
import { commandNames, firstWord, ownVersion, unknownCommand } from './usage.js';

/** Every command; the first (`$0 <recipe>`, training) is the default. */
const COMMANDS = [trainCommand, encodeCommand, evalCommand, heatmapCommand, indexCommand, searchCommand, serveCommand, dataCommand, exportCommand];

export async function main(argv: string[]): Promise<number> {
  try {
    const unknown = unknownCommand(argv, commandNames(COMMANDS));
    if (unknown) throw new UserError(unknown);
    const cli = yargs(argv);
    await cli
      .scriptName('sbert-train')
      .usage('$0 <recipe.yaml> | $0 <command> [options]')
      .option('backend', {
        type: 'string',
        default: 'auto',
        choices: [...BACKENDS],
        describe: 'compute backend; onnx = encode/eval/search/serve and training on onnxruntime-node (CPU); onnx-webgpu / onnx-cuda = the same on its WebGPU / CUDA execution provider (a GPU driver; CUDA: --onnxruntime-node-install=cuda12); auto = tfjs-node(-gpu) if installed, else wasm, else cpu, with onnx (CPU) when onnxruntime-node loads',
        global: true,
      })
      .option('threads', {
        type: 'string',
        describe: 'onnxruntime threads for --backend onnx / auto, and for the nodes onnx-webgpu / onnx-cuda leave on the CPU (default: the number of physical cores)',
        global: true,
      })
      .middleware((argv) => configureBackend({ threads: argv.threads }))
      .command(COMMANDS as unknown as CommandModule[])
      .demandCommand(1, 'give a recipe file or a command (see --help)')
      .strict()
      .fail((msg, err) => {
        if (err) throw err;
        // No recipe and no command (`sbert-train --model x`), or a command without its
        // argument (`sbert-train export`): what the user needs is the usage.
        if (/^Not enough non-option arguments/.test(msg)) {
          const word = firstWord(argv);
          throw new UsageError(word === null ? 'give a recipe file or a command' : `${word}: a required argument is missing`, cli);
        }
        throw new UsageError(msg);
      })
      .help()
      .version(ownVersion())
      .parseAsync();
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (caught) {
    const e = asIoError(caught);
    if (e instanceof UsageError) {
      const usage = e.yargs ? await e.yargs.getHelp() : null;
      process.stderr.write(usage ? `sbert-train: ${e.message}\n\n${usage}\n` : `sbert-train: ${e.message}\n(see sbert-train --help)\n`);
      return 2;
    }
    if (isUserError(e)) {
      process.stderr.write(`sbert-train: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}

/** A command line yargs refused; with `yargs`, the usage is printed after the message. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly yargs?: Argv<unknown>,
  ) {
    super(message);
  }
}
