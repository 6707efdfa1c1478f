/**
 * `sbert-train serve --index DIR`: HTTP JSON API + search page (src/search/server.ts),
 * bound to 127.0.0.1 unless --host says otherwise. Changes made with `index add` / `index
 * remove` while it runs are picked up within --reload seconds (src/search/live.ts).
 *
 * Stopping: SIGINT, SIGTERM and SIGHUP close the server and exit 0. So does the parent process
 * going away (checked every second), because `npx sbert-train serve &` then `kill $!` kills
 * npm's exec wrapper, not this process, which would otherwise keep the port;
 * --no-exit-with-parent keeps it running on its own (nohup, setsid), SIGHUP left as inherited.
 */
import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { initBackend } from '../backend/index.js';
import { loadEncoder } from '../models/index.js';
import { HnswIndex, LiveIndex, closeServer, createSearchServer, indexedView, listen } from '../search/index.js';

/** How often the parent process is checked (ms). */
const PARENT_POLL_MS = 1000;

/**
 * True when the process that started us is gone: we were re-parented (to init or a
 * subreaper), or the original parent no longer exists.
 */
function parentGone(parent: number): boolean {
  if (process.ppid !== parent) return true;
  try {
    process.kill(parent, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Resolve with the reason once the server should stop: a signal, or the parent gone. */
function untilStopped(withParent: boolean): Promise<string> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = withParent ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : ['SIGINT', 'SIGTERM'];
    const parent = process.ppid;
    // A parent of 0 or 1 (started by init, or as a container's first process) never "goes away".
    const timer = withParent && parent > 1 ? setInterval(() => parentGone(parent) && done('the parent process exited'), PARENT_POLL_MS) : undefined;
    timer?.unref();
    const handlers = signals.map((sig) => [sig, () => done(sig)] as const);
    for (const [sig, h] of handlers) process.once(sig, h);
    function done(why: string): void {
      clearInterval(timer);
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(why);
    }
  });
}

interface Args {
  backend: string;
  index: string;
  port: number;
  host: string;
  model?: string;
  maxK: number;
  reload: number;
  exitWithParent: boolean;
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
      .option('reload', { type: 'number', default: 2, describe: 'seconds between checks for changes made by index add/remove (0: never reload)' })
      .option('exit-with-parent', { type: 'boolean', default: true, describe: 'stop when the process that started it exits, and on SIGHUP (--no-exit-with-parent: keep running, for nohup / setsid)' }) as never,
  handler: async (argv) => {
    if (!Number.isInteger(argv.port) || argv.port < 0 || argv.port > 65535) throw new UserError(`--port must be 0..65535, got ${argv.port}`);
    if (!Number.isInteger(argv.maxK) || argv.maxK < 1) throw new UserError(`--max-k must be a positive integer, got ${argv.maxK}`);
    if (!Number.isFinite(argv.reload) || argv.reload < 0) throw new UserError(`--reload must be a number of seconds >= 0, got ${argv.reload}`);
    const index = HnswIndex.load(argv.index);
    await initBackend(argv.backend);
    const encoder = await loadEncoder(argv.model ?? index.model.path);
    const hash = await encoder.weightsHash();
    const queries = indexedView(index.manifest(), encoder, hash, argv.index, 'query'); // the index's prefix size and query prompt
    const same = (m: { dim: number; model: { prompts?: { query: string } } }) => m.dim === queries.dim && m.model.prompts?.query === index.model.prompts?.query;
    const live = new LiveIndex(argv.index, index, {
      accept: (m) => {
        indexedView(m, encoder, hash, argv.index, 'query');
        if (!same(m)) throw new UserError(`${argv.index}: the index now embeds queries another way (dim or prompt changed); restart serve`);
      },
    });
    if (argv.reload > 0) live.start(argv.reload * 1000);
    const server = createSearchServer({ index: live, encoder: queries, maxK: argv.maxK });
    // Listen for the stop signals before the address is printed: whoever reads it may signal at once.
    const stopped = untilStopped(argv.exitWithParent);
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
    const why = await stopped;
    process.stderr.write(`serve: stopping (${why})\n`);
    live.stop();
    await closeServer(server);
    // Whatever else still holds the event loop (a backend's threads) must not keep the port's
    // owner alive after it said it stopped.
    setTimeout(() => process.exit(0), 3000).unref();
  },
};
