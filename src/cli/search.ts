/**
 * `sbert-train search --index DIR "query"`: nearest items of one query, or of every line of
 * --queries FILE. Refuses a model other than the one the index was built with.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { initBackend } from '../backend/index.js';
import { loadEncoder } from '../models/index.js';
import { HnswIndex, LIMITS, indexedView, intInRange, type Hit } from '../search/index.js';

interface Args {
  backend: string;
  index: string;
  query?: string;
  queries?: string;
  k: number;
  ef?: number;
  json: boolean;
  model?: string;
}

export const searchCommand: CommandModule<{ backend: string }, Args> = {
  command: 'search [query]',
  describe: 'query an HNSW index',
  builder: (y) =>
    y
      .positional('query', { type: 'string', describe: 'the query text' })
      .option('index', { type: 'string', demandOption: true, describe: 'index folder' })
      .option('queries', { type: 'string', describe: 'file with one query a line (instead of a query argument)' })
      .option('k', { type: 'number', default: 10, describe: `results per query, ${LIMITS.k[0]}..${LIMITS.k[1]}` })
      .option('ef', { type: 'number', describe: `search breadth, ${LIMITS.ef[0]}..${LIMITS.ef[1]} (default: the index's)` })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON (one line per query)' })
      .option('model', { type: 'string', describe: "model (default: the one the index was built with)" }) as never,
  handler: async (argv) => {
    intInRange('-k', argv.k, LIMITS.k);
    if (argv.ef !== undefined) intInRange('--ef', argv.ef, LIMITS.ef);
    const queries = readQueries(argv);
    const index = HnswIndex.load(argv.index);
    await initBackend(argv.backend);
    const encoder = await loadEncoder(argv.model ?? index.model.path);
    // The index's prefix size and query prompt (manifest), so queries land in the items' space.
    const view = indexedView(index.manifest(), encoder, await encoder.weightsHash(), argv.index, 'query');
    const vectors = await view.encode(queries, { normalize: true });
    encoder.dispose();
    const out: string[] = [];
    queries.forEach((q, i) => {
      const hits = index.search(vectors[i], argv.k, argv.ef);
      out.push(argv.json ? JSON.stringify({ query: q, results: hits.map(({ label: _l, ...h }) => h) }) : formatHits(q, hits));
    });
    process.stdout.write(out.join(argv.json ? '\n' : '\n\n') + '\n');
  },
};

function readQueries(argv: Args): string[] {
  if (argv.query !== undefined && argv.queries) throw new UserError('give a query or --queries FILE, not both');
  if (argv.queries) {
    if (!existsSync(argv.queries)) throw new UserError(`queries file ${argv.queries} does not exist`);
    const qs = readFileSync(argv.queries, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    if (!qs.length) throw new UserError(`${argv.queries}: no queries (one per line)`);
    return qs;
  }
  if (argv.query === undefined || !String(argv.query).trim()) throw new UserError('give a query, e.g. sbert-train search --index DIR "data scientist"');
  return [String(argv.query)];
}

function formatHits(query: string, hits: Hit[]): string {
  const lines = [`query: ${query}`];
  hits.forEach((h, i) => lines.push(`${String(i + 1).padStart(3)}. ${h.score.toFixed(4)}  ${h.id}  ${h.text.replace(/\s+/g, ' ').slice(0, 120)}`));
  if (!hits.length) lines.push('  (no results)');
  return lines.join('\n');
}
