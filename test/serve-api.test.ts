/**
 * The HTTP API, in-process on a free loopback port: results agree with the index, hostile
 * input gets a 4xx and the server keeps serving, and a short bounded load test has no errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { Server } from 'node:http';
import { initBackend } from '../src/backend/index.js';
import { builtinEncoder } from '../src/models/index.js';
import { HnswIndex, createSearchServer, embedInto, listen, modelRef } from '../src/search/index.js';

const TEXTS = ['software developer', 'data scientist', 'nurse', 'truck driver', 'chef', 'teacher', 'electrician', 'accountant', 'pilot', 'farmer', 'lawyer', 'carpenter'];
let server: Server;
let base: string;
let port: number;
let index: HnswIndex;
let encoder: ReturnType<typeof builtinEncoder>;

before(async () => {
  await initBackend('auto', { quiet: true });
  encoder = builtinEncoder('tiny', 42);
  index = HnswIndex.create(encoder.dim, await modelRef('builtin:tiny', encoder));
  await embedInto(index, encoder, TEXTS.map((text, i) => ({ id: `o${i}`, text, fields: { n: i } })), { progress: false });
  server = createSearchServer({ index, encoder, maxK: 50, maxBodyBytes: 4096, log: () => {} });
  const a = await listen(server, 0);
  assert.equal(a.host, '127.0.0.1');
  port = a.port;
  base = `http://127.0.0.1:${port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** A raw request: the path is sent exactly as given (fetch would normalise `..`). */
function raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function healthy(): Promise<void> {
  const r = await fetch(`${base}/health`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok', count: TEXTS.length });
}

test('GET and POST /search return the same hits as the index, best first', async () => {
  const [v] = await encoder.encode(['data scientist'], { normalize: true });
  const expected = index.search(v, 3).map((h) => h.id);
  const get = await (await fetch(`${base}/search?q=${encodeURIComponent('data scientist')}&k=3`)).json();
  const post = await (await fetch(`${base}/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'data scientist', k: 3 }) })).json();
  for (const r of [get, post]) {
    assert.deepEqual(r.results.map((h: { id: string }) => h.id), expected);
    assert.equal(r.results[0].id, 'o1');
    assert.ok(Math.abs(r.results[0].score - 1) < 1e-4);
    assert.deepEqual(r.results[0].fields, { n: 1 });
  }
});

test('one query parameter, two spellings: q and query both work on GET and POST; two different texts are a 400', async () => {
  const [v] = await encoder.encode(['nurse'], { normalize: true });
  const expected = index.search(v, 2).map((h) => h.id);
  const post = (body: object) => fetch(`${base}/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answers = [
    await fetch(`${base}/search?q=nurse&k=2`),
    await fetch(`${base}/search?query=nurse&k=2`),
    await fetch(`${base}/search?q=nurse&query=nurse&k=2`),
    await post({ q: 'nurse', k: 2 }),
    await post({ query: 'nurse', k: 2 }),
  ];
  for (const r of answers) {
    assert.equal(r.status, 200, r.url);
    const body = (await r.json()) as { query: string; results: { id: string }[] };
    assert.equal(body.query, 'nurse');
    assert.deepEqual(body.results.map((h) => h.id), expected);
  }
  for (const r of [await fetch(`${base}/search?q=nurse&query=chef`), await post({ q: 'nurse', query: 'chef' })]) {
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /q or as query, not both/);
  }
  const none = await fetch(`${base}/search?k=2`);
  assert.equal(none.status, 400);
  assert.match(((await none.json()) as { error: { message: string } }).error.message, /q \(or query\) must be a non-empty string/);
});

test('the page reads ?q= and ?k= (fills the box, searches on load) and puts a search from the box in the address', async () => {
  const js = await (await fetch(`${base}/app.js`)).text();
  assert.match(js, /new URLSearchParams\(location\.search\)/);
  assert.match(js, /params\.get\('q'\) \|\| params\.get\('query'\)/);
  assert.match(js, /q\.value = asked;\s*run\(asked\);/);
  assert.match(js, /history\.replaceState/);
  // The script parses (a syntax error would leave the page dead).
  assert.doesNotThrow(() => new Function(js));
});

test('concurrent queries are embedded in batches and get the same hits as one at a time', async () => {
  const queries = TEXTS.map((t, i) => `${t} ${'x'.repeat(i)}`);
  const alone: { id: string; score: number }[][] = [];
  for (const q of queries) {
    const [v] = await encoder.encode([q], { normalize: true });
    alone.push(index.search(v, 4));
  }
  // A server whose encoder records the size of each forward pass.
  const sizes: number[] = [];
  const spy = {
    dim: encoder.dim,
    source: encoder.source,
    weightsHash: () => encoder.weightsHash(),
    encode: (texts: string[], o?: object) => {
      sizes.push(texts.length);
      return encoder.encode(texts, o);
    },
  };
  const s2 = createSearchServer({ index, encoder: spy, log: () => {} });
  const { url } = await listen(s2, 0);
  let together: { results: { id: string; score: number }[] }[];
  try {
    together = await Promise.all(queries.map(async (q) => (await fetch(`${url}search?q=${encodeURIComponent(q)}&k=4`)).json()));
  } finally {
    await new Promise<void>((resolve) => s2.close(() => resolve()));
  }
  assert.equal(sizes.reduce((a, b) => a + b, 0), queries.length);
  assert.ok(Math.max(...sizes) > 1, `batch sizes ${sizes}`);
  together.forEach((r, i) => {
    assert.deepEqual(r.results.map((h: { id: string }) => h.id), alone[i].map((h) => h.id), queries[i]);
    r.results.forEach((h: { score: number }, j: number) => assert.ok(Math.abs(h.score - alone[i][j].score) < 1e-4));
  });
});

test('/info and /health describe the index; / serves the page with a strict CSP', async () => {
  await healthy();
  const info = await (await fetch(`${base}/info`)).json();
  assert.equal(info.dim, encoder.dim);
  assert.equal(info.count, TEXTS.length);
  assert.equal(info.maxK, 50);
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  assert.match(await page.text(), /<input id="q"/);
});

test('an oversized body is refused with 413 and the server keeps serving', async () => {
  const big = JSON.stringify({ query: 'x'.repeat(1_000_000), k: 3 });
  const r = await raw('POST', '/search', big, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(big)) });
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.body).error.message, /larger than 4096 bytes/);
  // Chunked (no content-length): refused once the limit is passed.
  const chunked = await raw('POST', '/search', big, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  assert.equal(chunked.status, 413);
  await healthy();
});

test('k = 10^9, k = 0, non-integer k or ef out of range: 400', async () => {
  for (const k of ['1000000000', '0', '-1', '1.5', 'abc', '51']) {
    const r = await fetch(`${base}/search?q=chef&k=${k}`);
    assert.equal(r.status, 400, `k=${k}`);
    assert.match((await r.json()).error.message, /k must be an integer from 1 to 50/);
  }
  const post = await fetch(`${base}/search`, { method: 'POST', body: JSON.stringify({ query: 'chef', k: 1e9 }) });
  assert.equal(post.status, 400);
  const ef = await fetch(`${base}/search?q=chef&ef=100000`);
  assert.equal(ef.status, 400);
  await healthy();
});

test('non-JSON, non-object and missing or overlong queries: 4xx with a JSON error', async () => {
  const cases: [string | undefined, number][] = [
    ['{not json', 400],
    ['[1,2]', 400],
    ['"just a string"', 400],
    [JSON.stringify({ k: 3 }), 400],
    [JSON.stringify({ query: 42 }), 400],
    [JSON.stringify({ query: '   ' }), 400],
    [undefined, 400],
  ];
  for (const [body, status] of cases) {
    const r = await raw('POST', '/search', body, { 'content-type': 'application/json' });
    assert.equal(r.status, status, String(body));
    assert.equal(typeof JSON.parse(r.body).error.message, 'string');
  }
  const noQ = await fetch(`${base}/search`);
  assert.equal(noQ.status, 400);
  const long = await fetch(`${base}/search?q=${'a'.repeat(2001)}`);
  assert.equal(long.status, 413);
  await healthy();
});

test('path traversal, unknown paths and wrong methods: 4xx, nothing from the file system', async () => {
  for (const path of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/search/../../../etc/passwd', '/app.js/..%5c..%5cpackage.json', '//etc/passwd', '/nope', '/index.html/../manifest.json']) {
    const r = await raw('GET', path);
    assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
    assert.doesNotMatch(r.body, /root:|"dependencies"/);
  }
  const del = await raw('DELETE', '/search');
  assert.equal(del.status, 405);
  assert.equal(del.headers.allow, 'GET, POST');
  const put = await raw('PUT', '/health');
  assert.equal(put.status, 405);
  await healthy();
});

test('a malformed HTTP request gets 400 and does not take the server down', async () => {
  const { connect } = await import('node:net');
  const reply = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write('GARBAGE \x00\x01 nonsense\r\n\r\n'));
    let out = '';
    s.on('data', (d) => (out += d.toString()));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  await healthy();
});

test('a short bounded loopback load (3 s, 10 connections) has no errors and no non-2xx', async () => {
  const autocannon = (await import('autocannon' as string)).default as (o: object) => Promise<{ errors: number; timeouts: number; non2xx: number; requests: { total: number }; latency: { p50: number; p99: number } }>;
  let n = 0;
  const r = await autocannon({
    url: `${base}/search`,
    connections: 10,
    duration: 3,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // Distinct queries, so requests go through the model (batched), not the cache.
    requests: [{ setupRequest: (req: object) => ({ ...req, body: JSON.stringify({ query: `software engineer ${n++}`, k: 5 }) }) }],
  });
  assert.equal(r.errors, 0);
  assert.equal(r.timeouts, 0);
  assert.equal(r.non2xx, 0);
  assert.ok(r.requests.total > 0);
  await healthy();
});
