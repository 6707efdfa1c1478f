import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIndex, type TextEncoder } from '../src/search/index.js';

/** An encoder that makes a fixed 8-dimensional vector from each text, instantly. */
const fakeEncoder: TextEncoder = {
  dim: 8,
  source: 'fake',
  weightsHash: async () => '0'.repeat(64),
  encode: async (texts, opts) => {
    const out = texts.map((t) => {
      const v = new Float32Array(8);
      for (let i = 0; i < t.length; i++) v[(i * 7 + t.charCodeAt(i)) % 8] += ((t.charCodeAt(i) * 31 + i) % 17) - 8;
      const n = Math.hypot(...v) || 1;
      return v.map((x) => x / n);
    });
    opts?.onBatch?.(texts.length, texts.length);
    return out;
  },
};

/** The plain progress lines (stderr not a terminal) printed while `fn` runs. */
async function progressLines(fn: () => Promise<unknown>): Promise<string[]> {
  const saved = { env: process.env.SBERT_NO_PROGRESS, tty: process.stderr.isTTY, write: process.stderr.write };
  const lines: string[] = [];
  delete process.env.SBERT_NO_PROGRESS;
  process.stderr.isTTY = false;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = saved.write;
    process.stderr.isTTY = saved.tty;
    if (saved.env !== undefined) process.env.SBERT_NO_PROGRESS = saved.env;
  }
  return lines;
}

test('index build: one progress bar over every text, the held-out calibration items included', async () => {
  const items = Array.from({ length: 1200 }, (_, i) => ({ id: String(i), text: `text number ${i} ${'xyz'.repeat(i % 5)}` }));
  let calibrated = false;
  const lines = await progressLines(async () => {
    const { index, calibration } = await buildIndex(fakeEncoder, { path: 'fake', weightsHash: '0'.repeat(64) }, items, { batchSize: 100 });
    calibrated = calibration?.queries === 60;
    assert.equal(index.count, 1200);
  });
  assert.ok(calibrated, '60 items held out for calibration');
  const counts = lines.filter((l) => l.startsWith('embedding: ')).map((l) => /^embedding: (\d+)\/(\d+) texts/.exec(l)!.slice(1).map(Number));
  assert.ok(counts.length >= 3, lines.join('\n'));
  assert.ok(counts.every(([, total]) => total === 1200), 'the total is every text');
  assert.deepEqual(counts[counts.length - 1], [1200, 1200], `the bar reaches its total: ${lines.join(' | ')}`);
  assert.ok(counts.every(([done], i) => i === 0 || done >= counts[i - 1][0]), 'it never goes back');
});
