/**
 * HTTP JSON API over an index, plus a one-page search UI. node:http only: three routes do not
 * need a framework. Hostile input is bounded before any work is done: body size, query
 * length, k and ef ranges, URL shape. Every rejection is a 4xx JSON error and the server keeps
 * serving. Binds to 127.0.0.1 unless told otherwise.
 *
 *   GET  /                   the search page (+ /app.js)
 *   GET  /health             {"status":"ok","count":N}
 *   GET  /info               dimension, count, params, model of the index
 *   GET  /search?q=..&k=..&ef=..        (query= is the same as q=)
 *   POST /search             {"q": "...", "k": 10, "ef": 100}   ("query" is the same as "q")
 * One parameter, two spellings everywhere: `q` (what search URLs use) and `query` (what the
 * response echoes); giving both with different texts is a 400.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HnswIndex, Hit } from './hnsw-index.js';
import type { TextEncoder } from './build.js';
import { PAGE_HTML, PAGE_JS } from './page.js';

/** Something that hands out the index to search now (./live.ts swaps in new generations). */
export interface IndexSource {
  readonly current: HnswIndex;
}

export interface ServerOptions {
  /** A fixed index, or a source whose current index may change between requests. */
  index: HnswIndex | IndexSource;
  encoder: TextEncoder;
  /** Largest k a request may ask for (default 100). */
  maxK?: number;
  /** Largest ef a request may ask for (default 4096). */
  maxEf?: number;
  /** Largest request body in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /** Longest query in characters (default 2000). */
  maxQueryChars?: number;
  /** Query embeddings remembered (LRU); 0 turns the cache off (default 1000). */
  cacheSize?: number;
  /** Most queries embedded in one forward pass (default 32). */
  maxBatch?: number;
  /** Where internal errors are logged (default stderr). */
  log?: (line: string) => void;
}

/** A static page body (anything else a route returns is sent as JSON). */
class Page {
  constructor(
    readonly type: string,
    readonly body: string,
    readonly status = 200,
  ) {}
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

export function createSearchServer(opts: ServerOptions): Server {
  const maxK = opts.maxK ?? 100;
  const maxEf = opts.maxEf ?? 4096;
  const maxBody = opts.maxBodyBytes ?? 16 * 1024;
  const maxChars = opts.maxQueryChars ?? 2000;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const cache = new Lru<Float32Array>(opts.cacheSize ?? 1000);
  const { encoder } = opts;
  const source = opts.index;
  const current = (): HnswIndex => ('current' in source ? source.current : source);
  const batcher = new QueryBatcher(encoder, opts.maxBatch ?? 32);
  const inflight = new Map<string, Promise<Float32Array>>();

  /** Cached, de-duplicated while in flight, and batched with concurrent requests. */
  function embed(text: string): Promise<Float32Array> {
    const hit = cache.get(text);
    if (hit) return Promise.resolve(hit);
    let p = inflight.get(text);
    if (!p) {
      p = batcher.embed(text).then(
        (v) => {
          inflight.delete(text);
          cache.set(text, v);
          return v;
        },
        (e: unknown) => {
          inflight.delete(text);
          throw e;
        },
      );
      inflight.set(text, p);
    }
    return p;
  }

  async function search(params: { q: unknown; query: unknown; k: unknown; ef: unknown }): Promise<object> {
    const given = (v: unknown) => v !== undefined && v !== null;
    if (given(params.q) && given(params.query) && params.q !== params.query) throw new HttpError(400, 'give the query as q or as query, not both with different texts');
    const query = given(params.q) ? params.q : params.query;
    if (typeof query !== 'string' || !query.trim()) throw new HttpError(400, 'q (or query) must be a non-empty string');
    if (query.length > maxChars) throw new HttpError(413, `query is longer than ${maxChars} characters`);
    const k = intParam('k', params.k, 10, 1, maxK);
    const efAsked = params.ef === undefined || params.ef === null ? undefined : intParam('ef', params.ef, 0, 1, maxEf);
    const vector = await embed(query);
    // Take the index after the wait: the generation in service then answers the whole query.
    const index = current();
    const ef = efAsked ?? index.params.ef;
    const t0 = performance.now();
    const results: Hit[] = index.search(vector, k, ef);
    const tookMs = performance.now() - t0;
    return { query, k, ef, tookMs: Math.round(tookMs * 100) / 100, results: results.map(({ label: _label, ...r }) => r) };
  }

  async function route(req: IncomingMessage, url: URL): Promise<Page | object> {
    const method = req.method ?? 'GET';
    const allow = (methods: string[]) => {
      if (!methods.includes(method)) throw new HttpError(405, `${method} not allowed on ${url.pathname}`, { Allow: methods.join(', ') });
    };
    switch (url.pathname) {
      case '/':
      case '/index.html':
        allow(['GET', 'HEAD']);
        return new Page('text/html; charset=utf-8', PAGE_HTML);
      case '/app.js':
        allow(['GET', 'HEAD']);
        return new Page('text/javascript; charset=utf-8', PAGE_JS);
      case '/favicon.ico':
        allow(['GET', 'HEAD']);
        return new Page('image/x-icon', '', 204);
      case '/health':
        allow(['GET', 'HEAD']);
        return { status: 'ok', count: current().count };
      case '/info': {
        allow(['GET', 'HEAD']);
        const m = current().manifest();
        return { generation: m.generation, dim: m.dim, count: m.count, deleted: m.deleted, space: m.space, normalized: m.normalized, params: m.params, model: m.model, library: m.library, maxK, maxEf };
      }
      case '/search':
        allow(['GET', 'POST']);
        if (method === 'GET') {
          return search({ q: url.searchParams.get('q'), query: url.searchParams.get('query'), k: url.searchParams.get('k') ?? undefined, ef: url.searchParams.get('ef') ?? undefined });
        } else {
          const body = await readBody(req, maxBody);
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {
            throw new HttpError(400, 'request body must be JSON: {"q": "...", "k": 10}');
          }
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'request body must be a JSON object');
          const o = parsed as Record<string, unknown>;
          return search({ q: o.q, query: o.query, k: o.k, ef: o.ef });
        }
      default:
        throw new HttpError(404, 'not found');
    }
  }

  const server = createServer({ maxHeaderSize: 8 * 1024 }, (req, res) => {
    let url: URL;
    try {
      // Reject anything but a plain absolute path before URL normalisation hides it.
      const raw = req.url ?? '/';
      if (!raw.startsWith('/') || raw.startsWith('//') || raw.length > 4096) throw new HttpError(400, 'bad request URL');
      url = new URL(raw, 'http://localhost');
      if (/(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|\\/i.test(raw.split('?')[0])) throw new HttpError(404, 'not found');
    } catch (e) {
      sendError(res, e instanceof HttpError ? e : new HttpError(400, 'bad request URL'), req);
      return;
    }
    route(req, url).then(
      (out) => {
        if (out instanceof Page) {
          send(res, out.status, out.type, out.body, req.method === 'HEAD', { 'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'" });
        } else {
          send(res, 200, 'application/json; charset=utf-8', JSON.stringify(out), req.method === 'HEAD', { 'Cache-Control': 'no-store' });
        }
      },
      (e: unknown) => {
        if (e instanceof HttpError) {
          sendError(res, e, req);
        } else {
          log(`serve: internal error on ${req.method} ${url.pathname}: ${(e as Error)?.stack ?? String(e)}`);
          sendError(res, new HttpError(500, 'internal error'), req);
        }
      },
    );
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

function intParam(name: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new HttpError(400, `${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** Read the body, refusing (413) as soon as it passes `max` bytes instead of buffering it all. */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.reject(new HttpError(413, `request body is larger than ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        reject(new HttpError(413, `request body is larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!done) reject(new HttpError(400, `request body: ${e.message}`));
    });
  });
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(buf.length), ...SECURITY_HEADERS, ...headers });
  res.end(head ? undefined : buf);
}

function sendError(res: ServerResponse, e: HttpError, req: IncomingMessage): void {
  // After a refused body, close the connection rather than read the rest of it.
  const extra: Record<string, string> = { ...e.headers, 'Cache-Control': 'no-store' };
  if (e.status === 413) extra.Connection = 'close';
  send(res, e.status, 'application/json; charset=utf-8', JSON.stringify({ error: { status: e.status, message: e.message } }), req.method === 'HEAD', extra);
  if (e.status === 413) req.resume();
}

/**
 * Stop accepting connections and resolve once the server is closed: idle keep-alive
 * connections are dropped at once, requests in progress get `graceMs` to finish.
 */
export function closeServer(server: Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** Listen and resolve with the bound address (port 0 picks a free port). */
export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<{ host: string; port: number; url: string }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({ host: a.address, port: a.port, url: `http://${h}:${a.port}/` });
    });
  });
}

/**
 * Dynamic batching of query embeddings: queries that arrive while the model is busy wait and
 * go through the next forward pass together (up to maxBatch), so throughput under load is
 * that of batched inference rather than of one query at a time. An idle server embeds a lone
 * query at once (flush on the next turn of the event loop). The same idea as the dynamic
 * batcher of NVIDIA Triton (https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/user_guide/model_configuration.html#dynamic-batcher).
 */
class QueryBatcher {
  private pending: { text: string; resolve: (v: Float32Array) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private running = false;

  constructor(
    private readonly encoder: TextEncoder,
    private readonly maxBatch: number,
  ) {}

  embed(text: string): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ text, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running || !this.pending.length) return;
    this.scheduled = true;
    // setImmediate runs after pending I/O, so requests already received join this batch.
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.running = true;
    const batch = this.pending.splice(0, this.maxBatch);
    try {
      const vectors = await this.encoder.encode(
        batch.map((p) => p.text),
        { normalize: true, progress: false, batchSize: this.maxBatch },
      );
      batch.forEach((p, i) => p.resolve(vectors[i]));
    } catch (e) {
      batch.forEach((p) => p.reject(e));
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}

/** A tiny least-recently-used map (Map keeps insertion order). */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly size: number) {}
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    if (this.size <= 0) return;
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value as string);
  }
}
