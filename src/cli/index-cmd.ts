/**
 * `sbert-train index build|add|remove|info`: make and change an HNSW index folder.
 * Every change is written as a new generation and committed by an atomic manifest swap
 * (src/search/store.ts), so a crash leaves the old index or the new one.
 */
import type { Argv, CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { columnArg, type InputFormat } from '../data/index.js';
import { tableOptions } from './table-options.js';
import { initBackend } from '../backend/index.js';
import { loadEncoder } from '../models/index.js';
import { HnswIndex, DEFAULT_PARAMS, LIMITS, intInRange, checkCanWrite, inspectIndex, readCorpus, addToIndex, buildIndex, indexEmbedding, indexedView, type Calibration } from '../search/index.js';

interface Common {
  backend: string;
}

interface CorpusArgs {
  input: string;
  textColumn?: string;
  idColumn?: string;
  format?: InputFormat;
  header?: boolean;
}

/** The corpus flags as readCorpus takes them (a whole number names a column by index). */
function corpusFlags(argv: CorpusArgs) {
  const col = (c: string | undefined) => (c === undefined ? undefined : columnArg(c));
  return { textColumn: col(argv.textColumn), idColumn: col(argv.idColumn), format: argv.format, header: argv.header };
}

function corpusOptions(y: Argv) {
  return tableOptions(y)
    .option('input', { type: 'string', demandOption: true, describe: 'corpus: .csv, .tsv, .jsonl or .txt (one text a line)' })
    .option('text-column', { type: 'string', describe: 'column holding the texts (tables only): a name, or a 0-based index (then no header row unless --header)' })
    .option('id-column', { type: 'string', describe: 'column holding unique ids, a name or a 0-based index (default: row number)' })
    .option('batch-size', { type: 'number', default: 32, describe: 'texts per forward pass' });
}

function reportCalibration(c: Calibration): void {
  const how = c.reached ? 'reaches' : 'is the largest tried; it falls short of';
  process.stderr.write(`ef ${c.ef} ${how} recall@${c.k} ${c.target} (measured ${c.recall.toFixed(3)} on ${c.queries} held-out items)\n`);
}

const build: CommandModule<Common, Common & CorpusArgs & { model: string; out: string; M: number; efConstruction: number; ef?: number; targetRecall: number; batchSize: number; force: boolean; dim?: number; promptName?: string; queryPromptName?: string }> = {
  command: 'build',
  describe: 'embed a corpus and build an index folder',
  builder: (y) =>
    corpusOptions(y)
      .option('model', { type: 'string', demandOption: true, describe: 'model folder, hub id or builtin:NAME' })
      .option('out', { type: 'string', demandOption: true, describe: 'index folder to create' })
      .option('M', { type: 'number', default: DEFAULT_PARAMS.M, describe: `HNSW links per node, ${LIMITS.M[0]}..${LIMITS.M[1]} (higher: better recall, more memory)` })
      .option('ef-construction', { type: 'number', default: DEFAULT_PARAMS.efConstruction, describe: `HNSW build breadth, ${LIMITS.efConstruction[0]}..${LIMITS.efConstruction[1]}` })
      .option('ef', { type: 'number', describe: `default search breadth stored in the index, ${LIMITS.ef[0]}..${LIMITS.ef[1]} (default: calibrated on held-out items to reach --target-recall; ${DEFAULT_PARAMS.ef} below 1000 items)` })
      .option('target-recall', { type: 'number', default: 0.98, describe: 'recall@10 the calibrated ef aims for' })
      .option('dim', { type: 'number', describe: 'index the first N values of each embedding, re-normalised (Matryoshka models); search and add use the same' })
      .option('prompt-name', { type: 'string', describe: "the model's prompt for the items (default: its document / passage / corpus prompt, else its default prompt)" })
      .option('query-prompt-name', { type: 'string', describe: "the model's prompt for queries, recorded for search and serve (default: its query prompt, else its default prompt)" })
      .option('force', { type: 'boolean', default: false, describe: 'replace an index already in --out' }) as never,
  handler: async (argv) => {
    // Everything that can be refused is refused before the model loads and embedding starts.
    const params = {
      M: intInRange('--M', argv.M, LIMITS.M),
      efConstruction: intInRange('--ef-construction', argv.efConstruction, LIMITS.efConstruction),
      ...(argv.ef !== undefined ? { ef: intInRange('--ef', argv.ef, LIMITS.ef) } : {}),
    };
    if (!(argv.targetRecall > 0 && argv.targetRecall <= 1)) throw new UserError(`--target-recall must be in (0, 1], got ${argv.targetRecall}`);
    if (argv.dim !== undefined && !(Number.isInteger(argv.dim) && argv.dim >= 1)) throw new UserError(`--dim must be a whole number >= 1, got ${argv.dim}`);
    const batchSize = intInRange('--batch-size', argv.batchSize, LIMITS.batchSize);
    const corpus = readCorpus(argv.input, corpusFlags(argv));
    if (corpus.items.length === 0) throw new UserError(`${argv.input}: no texts to index`);
    checkCanWrite(argv.out, 0, argv.force);
    await initBackend(argv.backend);
    const encoder = await loadEncoder(argv.model);
    const { model, documents } = await indexEmbedding(encoder, argv.model, { dim: argv.dim, promptName: argv.promptName, queryPromptName: argv.queryPromptName });
    const { index, calibration } = await buildIndex(documents, model, corpus.items, { params, targetRecall: argv.targetRecall, batchSize });
    if (calibration) reportCalibration(calibration);
    index.save(argv.out, { overwrite: argv.force });
    encoder.dispose();
    const skipped = corpus.skipped ? ` (${corpus.skipped} rows with empty text skipped)` : '';
    process.stdout.write(`indexed ${index.count} items${skipped} into ${argv.out}\n`);
  },
};

const add: CommandModule<Common, Common & CorpusArgs & { index: string; model?: string; batchSize: number }> = {
  command: 'add',
  describe: 'embed more items and add them to an index',
  builder: (y) =>
    corpusOptions(y)
      .option('index', { type: 'string', demandOption: true, describe: 'index folder' })
      .option('model', { type: 'string', describe: "model (default: the index's own)" }) as never,
  handler: async (argv) => {
    const batchSize = intInRange('--batch-size', argv.batchSize, LIMITS.batchSize);
    const index = HnswIndex.load(argv.index);
    const corpus = readCorpus(argv.input, { ...corpusFlags(argv), firstId: index.total });
    if (corpus.items.length === 0) throw new UserError(`${argv.input}: no texts to add`);
    // Refuse before embedding: ids the index already holds, a folder that cannot be written.
    index.checkNewIds(corpus.items.map((it) => it.id));
    index.checkCanSave(argv.index);
    await initBackend(argv.backend);
    const encoder = await loadEncoder(argv.model ?? index.model.path);
    const documents = indexedView(index.manifest(), encoder, await encoder.weightsHash(), argv.index, 'document'); // the index's prefix size and item prompt
    const before = index.count;
    const calibration = await addToIndex(index, documents, corpus.items, { batchSize });
    if (calibration) reportCalibration(calibration);
    index.save(argv.index);
    encoder.dispose();
    process.stdout.write(`added ${index.count - before} items; ${argv.index} now holds ${index.count}\n`);
  },
};

const remove: CommandModule<Common, Common & { index: string; ids: string[] }> = {
  command: 'remove',
  describe: 'mark items deleted (searches skip them)',
  builder: (y) =>
    y
      .option('index', { type: 'string', demandOption: true, describe: 'index folder' })
      .option('ids', { type: 'array', string: true, demandOption: true, describe: 'ids to remove' }) as never,
  handler: async (argv) => {
    const index = HnswIndex.load(argv.index);
    const { removed, missing } = index.remove(argv.ids.map(String));
    if (removed.length) index.save(argv.index);
    if (missing.length) process.stderr.write(`not in the index: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}\n`);
    process.stdout.write(`removed ${removed.length} items; ${argv.index} now holds ${index.count}\n`);
  },
};

const info: CommandModule<Common, Common & { index: string; json: boolean }> = {
  command: 'info',
  describe: 'show what an index holds (and check its files)',
  builder: (y) =>
    y.option('index', { type: 'string', demandOption: true, describe: 'index folder' }).option('json', { type: 'boolean', default: false, describe: 'print the manifest as JSON' }) as never,
  handler: async (argv) => {
    const m = inspectIndex(argv.index);
    if (argv.json) {
      process.stdout.write(JSON.stringify(m, null, 2) + '\n');
      return;
    }
    const lines = [
      `index:      ${argv.index} (generation ${m.generation}, files verified)`,
      `items:      ${m.count} (${m.deleted} deleted, capacity ${m.capacity})`,
      `dimension:  ${m.dim}, ${m.space} space, ${m.normalized ? 'normalised' : 'not normalised'}`,
      `model:      ${m.model.path} (weights ${m.model.weightsHash.slice(0, 16)})`,
      ...(m.model.dim !== undefined ? [`prefix:     first ${m.dim} of ${m.model.dim} values, re-normalised`] : []),
      ...(m.model.prompts ? [`prompts:    items ${JSON.stringify(m.model.prompts.document)}, queries ${JSON.stringify(m.model.prompts.query)}`] : []),
      `params:     M=${m.params.M} efConstruction=${m.params.efConstruction} ef=${m.params.ef}` +
        (m.calibration ? ` (calibrated: recall@${m.calibration.k} ${m.calibration.recall.toFixed(3)} on ${m.calibration.queries} held-out items)` : ''),
      `library:    ${m.library.name} ${m.library.version}`,
      `updated:    ${m.updatedAt}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  },
};

export const indexCommand: CommandModule = {
  command: 'index',
  describe: 'build / add to / remove from / inspect an HNSW index',
  builder: (y) => y.command(build as never).command(add as never).command(remove as never).command(info as never).demandCommand(1, 'give an action: build, add, remove or info'),
  handler: () => {},
};

