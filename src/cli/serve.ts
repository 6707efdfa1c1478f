/**
 * `sbert-train serve --index DIR`: HTTP JSON API + search page (src/search/server.ts),
 * bound to 127.0.0.1 unless --host says otherwise. Changes made with `index add` / `index
 * remove` while it runs are picked up within --reload seconds (src/search/live.ts).
 */
import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { initBackend } from '../backend/index.js';
import { loadEncoder } from '../models/index.js';
import { HnswIndex, LiveIndex, checkEncoderMatches, createSearchServer, listen } from '../search/index.js';

interface Args {
  backend: string;
  index: string;
  port: number;
  host: string;
  model?: string;
  maxK: number;
  reload: number;
}

export const serveCommand: CommandModule<{ backend: string }, Args> = {
  command: 'serve',
  describe: 'serve an HNSW index over HTTP with a search page',
  builder: (y) =>
    y
      .option('index', { type: 'string', demandOption: true, describe: 'index folder' })
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0: any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to bind (0.0.0.0 exposes it to the network)' })
      .option('model', { type: 'string', describe: 'model (default: the one the index was built with)' })
      .option('max-k', { type: 'number', default: 100, describe: 'largest k a request may ask for' })
      .option('reload', { type: 'number', default: 2, describe: 'seconds between checks for changes made by index add/remove (0: never reload)' }) as never,
  handler: async (argv) => {
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new UserError(`--port must be 0..65535, got ${argv.port}`);
    if (!Number.isInteger(argv.maxK) || argv.maxK < 1) throw new UserError(`--max-k must be a positive integer, got ${argv.maxK}`);
    if (!Number.isFinite(argv.reload) || argv.reload < 0) throw new UserError(`--reload must be a number of seconds >= 0, got ${argv.reload}`);
    const index = HnswIndex.load(argv.index);
    await initBackend(argv.backend);
    const encoder = await loadEncoder(argv.model ?? index.model.path);
    const hash = await encoder.weightsHash();
    checkEncoderMatches(index.manifest(), encoder, hash, argv.index);
    const live = new LiveIndex(argv.index, index, { accept: (m) => checkEncoderMatches(m, encoder, hash, argv.index) });
    if (argv.reload > 0) live.start(argv.reload * 1000);
    const server = createSearchServer({ index: live, encoder, maxK: argv.maxK });
    let addr;
    try {
      addr = await listen(server, argv.port, argv.host);
    } catch (e) {
      throw new UserError(`cannot listen on ${argv.host}:${argv.port}: ${(e as Error).message}`);
    }
    if (!/^(127\.|::1$|localhost$)/.test(addr.host)) {
      process.stderr.write(`warning: listening on ${addr.host}, reachable from other machines; the API has no authentication\n`);
    }
    process.stdout.write(`serving ${index.count} items from ${argv.index} at ${addr.url}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        live.stop();
        server.close(() => resolve());
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
