/**
 * Heatmaps: files and sizes, every label in the SVG, the HTML page in headless Chromium
 * (no console errors, a screenshot that is not blank), and awkward input: one text,
 * duplicates, very long labels, Japanese text (glyphs, not tofu boxes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { UserError } from '../src/errors.js';
import { cosineSimilarityMatrix, heatmapSpec, renderHeatmap, writeHeatmap, type HeatmapPanel } from '../src/viz/heatmap.js';
import { axisLabels, truncateLabel } from '../src/viz/labels.js';
import { escapeHtml, pngSize, renderSvg, svgToPng } from '../src/viz/render.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-heatmap-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const JOBS = [
  'Software engineer',
  'Senior software developer',
  'Data scientist',
  'Machine learning engineer',
  'Registered nurse',
  'Nurse practitioner',
  'Truck driver',
  'Delivery driver',
  'Chief financial officer',
];

const CHROMIUM = '/usr/bin/chromium';

/** Decode an 8-bit RGB / RGBA PNG (no interlace) to RGBA pixels: enough to inspect renders. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  const { width, height } = pngSize(png);
  const colorType = png[25];
  assert.equal(png[24], 8, 'bit depth 8');
  assert.equal(png[28], 0, 'not interlaced');
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  assert.ok(channels, `colour type ${colorType} not handled`);
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(width * height * 4);
  const prev = new Uint8Array(stride);
  const cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? cur[x - channels] : 0;
      const b = prev[x];
      const c = x >= channels ? prev[x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[x] = v & 255;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 4; k++) out[(y * width + x) * 4 + k] = k < channels ? cur[x * channels + k] : 255;
    }
    prev.set(cur);
  }
  return { width, height, rgba: out };
}

/** Share of pixels that are not (near) white, and the number of distinct colours. */
function inkStats(png: Buffer): { ink: number; colours: number } {
  const { rgba } = decodePng(png);
  let ink = 0;
  const colours = new Set<number>();
  for (let i = 0; i < rgba.length; i += 4) {
    if (rgba[i] < 245 || rgba[i + 1] < 245 || rgba[i + 2] < 245) ink++;
    colours.add((rgba[i] << 16) | (rgba[i + 1] << 8) | rgba[i + 2]);
  }
  return { ink: ink / (rgba.length / 4), colours: colours.size };
}

/** Panels for two "models": builtin:tiny with two seeds (base vs tuned stand-ins). */
let panelsCache: HeatmapPanel[] | null = null;
async function twoModelPanels(): Promise<HeatmapPanel[]> {
  if (panelsCache) return panelsCache;
  await initBackend('cpu', { quiet: true });
  const panels: HeatmapPanel[] = [];
  for (const seed of [1, 2]) {
    const enc = await loadEncoder('builtin:tiny', { seed });
    panels.push({ model: seed === 1 ? 'base' : 'tuned', matrix: cosineSimilarityMatrix(await enc.encode(JOBS)) });
    enc.dispose();
  }
  panelsCache = panels;
  return panels;
}

test('cosine matrix: symmetric, unit diagonal, hand-checked entry, no tensors involved', () => {
  const before = tf.memory().numTensors;
  const m = cosineSimilarityMatrix([Float32Array.from([1, 0]), Float32Array.from([1, 1]), Float32Array.from([0, -2])]);
  assert.equal(tf.memory().numTensors, before);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(m[i][i] - 1) < 1e-12);
  assert.ok(Math.abs(m[0][1] - Math.SQRT1_2) < 1e-12);
  assert.ok(Math.abs(m[1][2] + Math.SQRT1_2) < 1e-12);
  assert.equal(m[0][2], 0);
  assert.equal(m[2][1], m[1][2]);
});

test('labels: long ones end in an ellipsis, duplicates become distinct, CJK counted by character', () => {
  const long = 'Chief executive officer of a very large multinational conglomerate holding company';
  const t = truncateLabel(long, 40);
  assert.equal(Array.from(t).length, 40);
  assert.ok(t.endsWith('…') && long.startsWith(t.slice(0, -1)));
  assert.equal(truncateLabel('short'), 'short');
  assert.equal(truncateLabel('two\n lines'), 'two lines');
  assert.deepEqual(axisLabels(['nurse', 'nurse', 'driver', 'nurse']), ['nurse', 'nurse (2)', 'driver', 'nurse (3)']);
  assert.deepEqual(axisLabels(['', ' ']), ['(empty)', '(empty) (2)']);
  assert.equal(Array.from(truncateLabel('あ'.repeat(50), 10)).length, 10);
});

test('9 job titles x 2 models: PNG of the expected size, SVG with every label, HTML with both panels', async () => {
  const panels = await twoModelPanels();
  const paths = await writeHeatmap(join(tmp, 'jobs'), JOBS, panels, { title: 'Job titles' });
  const svg = readFileSync(paths.svg, 'utf8');
  const png = readFileSync(paths.png);
  const w = Number(/^<svg[^>]* width="(\d+)"/.exec(svg)![1]);
  const h = Number(/^<svg[^>]* height="(\d+)"/.exec(svg)![1]);
  // two 9x9 panels of 40 px cells plus labels: wider than tall, and rasterised at 2x
  assert.ok(w > 2 * 9 * 40 && h > 9 * 40, `svg ${w}x${h}`);
  assert.deepEqual(pngSize(png), { width: 2 * w, height: 2 * h });
  for (const label of JOBS) {
    // on the x axis of each panel and on the shared y axis
    const count = svg.split(`>${escapeHtml(label)}<`).length - 1;
    assert.ok(count >= 3, `${label} appears ${count} times`);
  }
  assert.ok(svg.includes('>base<') && svg.includes('>tuned<'), 'panel titles');
  // cell values: the diagonal is 1.00 in every panel
  assert.ok((svg.match(/>1\.00</g) ?? []).length >= 18);
  const { ink, colours } = inkStats(png);
  assert.ok(ink > 0.2 && colours > 50, `ink ${ink}, colours ${colours}`);
  const html = readFileSync(paths.html, 'utf8');
  assert.ok(html.includes('<svg') && !html.includes('<script') && !/https?:\/\/(?!www\.w3\.org)/.test(html.replace(/xmlns(:xlink)?="[^"]*"/g, '')));
});

test('the HTML page opens in headless Chromium without console errors and is not blank', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}` }, async () => {
  const panels = await twoModelPanels();
  const paths = await writeHeatmap(join(tmp, 'browser'), JOBS, panels);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(paths.html).href, { waitUntil: 'load' });
    assert.equal(await page.locator('svg').count(), 1);
    const rects = await page.locator('svg path, svg rect').count();
    assert.ok(rects > 2 * 81, `only ${rects} shapes`);
    const shot = await page.screenshot({ fullPage: true });
    assert.deepEqual(problems, []);
    const { ink, colours } = inkStats(shot);
    assert.ok(ink > 0.1 && colours > 50, `screenshot looks blank: ink ${ink}, colours ${colours}`);
  } finally {
    await browser.close();
  }
});

test('a single text gives a sane 1x1 heatmap; no texts is a one-line UserError', async () => {
  const r = await renderHeatmap(['only one'], [{ model: 'm', matrix: [[1]] }]);
  assert.ok(r.svg.includes('>only one<') && r.svg.includes('>1.00<'));
  // same model name twice: two panels, not one merged
  const twice = await renderHeatmap(['a', 'b'], [{ model: 'm', matrix: [[1, 0], [0, 1]] }, { model: 'm', matrix: [[1, 0.5], [0.5, 1]] }]);
  assert.ok(twice.svg.includes('>m<') && twice.svg.includes('>m (2)<'));
  assert.ok(pngSize(r.png).width > 0);
  assert.throws(() => heatmapSpec([], [{ model: 'm', matrix: [] }]), (e: Error) => e instanceof UserError && !e.message.includes('\n'));
});

test('duplicate and very long texts: distinct rows, truncated labels, full text in the HTML', async () => {
  const long = 'A registered nurse who works night shifts in the intensive care unit of a large hospital';
  const texts = ['nurse', 'nurse', long];
  const m = [
    [1, 1, 0.5],
    [1, 1, 0.5],
    [0.5, 0.5, 1],
  ];
  const r = await renderHeatmap(texts, [{ model: 'm', matrix: m }]);
  assert.ok(r.svg.includes('>nurse<') && r.svg.includes('>nurse (2)<'));
  const label = truncateLabel(long);
  assert.ok(r.svg.includes(`>${escapeHtml(label)}<`) && label.endsWith('…'));
  assert.ok(!r.svg.includes(`>${long}<`), 'no drawn label holds the full text');
  assert.ok(r.html.includes(long), 'the full text is listed in the HTML');
  // 3 distinct rows: 9 cells, 9 values
  assert.equal((r.svg.match(/>(1\.00|0\.50)</g) ?? []).length, 9);
});

const hasCjkFont = (() => {
  try {
    return /CJK/i.test(execFileSync('fc-list', { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();

test('Japanese labels render as glyphs, not tofu', { skip: hasCjkFont ? false : 'no CJK font installed (fc-list | grep -i cjk)' }, async () => {
  const ja = ['看護師', '医者', 'トラック運転手'];
  const r = await renderHeatmap(ja, [{ model: 'ja', matrix: cosineSimilarityMatrix([[1, 0], [0.9, 0.1], [0, 1]]) }]);
  for (const t of ja) assert.ok(r.svg.includes(`>${t}<`), t);
  // With a font missing, every character is the same .notdef box, so two different strings
  // of equal length would rasterise identically (or both blank).
  const textPng = async (s: string) =>
    svgToPng(
      await renderSvg({
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        data: { values: [{ t: s }] },
        mark: { type: 'text', fontSize: 24, font: 'Noto Sans CJK JP, sans-serif' },
        encoding: { text: { field: 't' } },
      } as never),
    );
  const a = await textPng('看護師です');
  const b = await textPng('運転手です');
  assert.ok(inkStats(a).ink > 0.01, 'text drawn');
  assert.notDeepEqual(decodePng(a).rgba, decodePng(b).rgba);
});

test("the fixed colour scale is exactly [0, 1]: values below 0 are clamped and the legend title says so; 'fit' follows the values", async () => {
  const neg: HeatmapPanel[] = [{ model: 'm', matrix: [[1, -0.3], [-0.3, 1]] }];
  const colorOf = (spec: ReturnType<typeof heatmapSpec>) => (spec as unknown as { spec: { layer: { encoding: { color: { scale: { domain: number[]; clamp: boolean }; legend: { title: string } } } }[] } }).spec.layer[0].encoding.color;
  const fixed = colorOf(heatmapSpec(['a', 'b'], neg));
  assert.deepEqual(fixed.scale.domain, [0, 1]);
  assert.equal(fixed.scale.clamp, true);
  assert.equal(fixed.legend.title, 'cosine (below 0 shown as 0)');
  const plain = colorOf(heatmapSpec(['a', 'b'], [{ model: 'm', matrix: [[1, 0.2], [0.2, 1]] }]));
  assert.deepEqual(plain.scale.domain, [0, 1]);
  assert.equal(plain.legend.title, 'cosine');
  const fit = colorOf(heatmapSpec(['a', 'b'], neg, { colorDomain: 'fit' }));
  assert.deepEqual(fit.scale.domain, [-0.3, 1]);
  assert.equal(fit.legend.title, 'cosine');
  // The drawn legend runs 0 to 1 and never shows -0.3; the cell still prints its value.
  const { svg } = await renderHeatmap(['a', 'b'], neg);
  assert.ok(svg.includes('below 0 shown as 0'));
  assert.ok(!/>[-\u2212]0\.3</.test(svg), 'no -0.3 legend label');
  assert.ok(/>[-\u2212]0\.30</.test(svg), 'the cell prints -0.30');
  assert.ok(svg.includes('>0.0<') && svg.includes('>1.0<'));
});
