/**
 * Pairwise cosine-similarity heatmaps of a list of texts, one panel per model side by side
 * (base vs tuned), as in the TensorFlow Hub "Semantic similarity with the Universal Sentence
 * Encoder" tutorial's plot_similarity (labels on both axes, x labels turned 90 degrees, values
 * in cells, a colour legend): https://www.tensorflow.org/hub/tutorials/semantic_similarity_with_tf_hub_universal_encoder
 * Drawn with Vega-Lite (SVG), rasterised with resvg (PNG), wrapped in a self-contained HTML page.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { UserError } from '../errors.js';
import { axisLabels } from './labels.js';
import { escapeHtml, FONT, renderSvg, svgToPng, type VegaLiteSpec } from './render.js';

export interface HeatmapPanel {
  /** Panel title, e.g. the model's path or `base` / `tuned`. */
  model: string;
  /** Square matrix [n][n] of similarities between the texts. */
  matrix: number[][];
}

export interface HeatmapOptions {
  title?: string;
  /** Pixels per cell (default 40: room for a two-decimal value). */
  cell?: number;
  /** PNG pixels per SVG pixel (default 2, for sharp text). */
  scale?: number;
  /**
   * Colour scale: 'fixed' = exactly [0, 1], comparable across plots (a value below 0 takes
   * the colour of 0, and the legend title says so; the cells still print the value);
   * 'fit' = [lowest, highest] value, for models whose cosines all sit near 1.
   */
  colorDomain?: 'fixed' | 'fit';
  /** What the values are, for the legend and tooltips (default 'cosine'; a confusion matrix: 'share of row'). */
  valueTitle?: string;
  /** Axis titles (default none: the labels are the texts themselves), e.g. predicted / true class. */
  axisTitles?: { x: string; y: string };
}

/** Cosine of every pair of rows, in float64. */
export function cosineSimilarityMatrix(emb: readonly ArrayLike<number>[]): number[][] {
  const norms = emb.map((e) => {
    let s = 0;
    for (let i = 0; i < e.length; i++) s += e[i] * e[i];
    return Math.max(Math.sqrt(s), 1e-12);
  });
  return emb.map((a, i) =>
    emb.map((b, j) => {
      let s = 0;
      for (let d = 0; d < a.length; d++) s += a[d] * b[d];
      return s / (norms[i] * norms[j]);
    }),
  );
}

function validate(texts: readonly string[], panels: readonly HeatmapPanel[]): void {
  if (texts.length === 0) throw new UserError('heatmap: no texts given (use --texts FILE or --text "..." at least once)');
  if (panels.length === 0) throw new UserError('heatmap: no model given (use --model)');
  for (const p of panels) {
    if (p.matrix.length !== texts.length || p.matrix.some((r) => r.length !== texts.length)) {
      throw new Error(`heatmap: panel '${p.model}' is not ${texts.length}x${texts.length}`);
    }
  }
}

/** The Vega-Lite spec: a faceted rect + text layer, colour shared across panels. */
export function heatmapSpec(texts: readonly string[], panels: readonly HeatmapPanel[], opts: HeatmapOptions = {}): VegaLiteSpec {
  validate(texts, panels);
  const labels = axisLabels(texts);
  const cell = opts.cell ?? 40;
  // facet titles must be unique, or two panels would merge into one
  const titles = axisLabels(panels.map((p) => p.model), 80);
  const values = panels.flatMap((p, pi) =>
    p.matrix.flatMap((row, i) =>
      row.map((v, j) => ({ panel: titles[pi], row: labels[i], col: labels[j], text1: texts[i], text2: texts[j], value: v })),
    ),
  );
  const all = values.map((v) => v.value).filter(Number.isFinite);
  const fit = opts.colorDomain === 'fit' && all.length > 0;
  const lo = fit ? Math.min(...all) : 0;
  const hi = fit ? Math.max(...all) : 1;
  // A fixed scale that stretched to the data would not be fixed (a legend from -0.3 is not
  // comparable with one from 0): values outside [0, 1] are clamped, and the legend says so.
  const clamped = fit ? [] : [all.some((v) => v < lo) ? 'below 0 shown as 0' : '', all.some((v) => v > hi) ? 'above 1 shown as 1' : ''].filter(Boolean);
  const valueTitle = opts.valueTitle ?? 'cosine';
  const legendTitle = clamped.length ? `${valueTitle} (${clamped.join(', ')})` : valueTitle;
  // dark cells get white text; the threshold sits where the scheme turns dark red
  const darkAbove = lo + 0.55 * (hi - lo);
  const axis = { labelFont: FONT, labelFontSize: 12, labelLimit: 400, title: null, domain: false, ticks: false, labelPadding: 4 };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title ? { text: opts.title, font: FONT, fontSize: 15, anchor: 'start' } : undefined,
    background: 'white',
    padding: 12,
    data: { values },
    facet: {
      column: {
        field: 'panel',
        type: 'nominal',
        sort: titles,
        header: { title: null, labelFont: FONT, labelFontSize: 13, labelFontWeight: 'bold', labelLimit: cell * texts.length + 200 },
      },
    },
    spec: {
      width: cell * texts.length,
      height: cell * texts.length,
      encoding: {
        x: { field: 'col', type: 'nominal', sort: labels, axis: { ...axis, labelAngle: -90, orient: 'bottom', title: opts.axisTitles?.x ?? null } },
        y: { field: 'row', type: 'nominal', sort: labels, axis: { ...axis, title: opts.axisTitles?.y ?? null } },
      },
      layer: [
        {
          mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
          encoding: {
            color: {
              field: 'value',
              type: 'quantitative',
              scale: { scheme: 'yelloworangered', domain: hi > lo ? [lo, hi] : [lo - 0.5, hi], clamp: true },
              legend: { title: legendTitle, titleFont: FONT, labelFont: FONT, gradientLength: Math.max(120, Math.min(cell * texts.length, 320)), format: fit ? '.2f' : '.1f' },
            },
            tooltip: [
              { field: 'text1', title: 'row' },
              { field: 'text2', title: 'column' },
              { field: 'value', title: valueTitle, format: '.3f' },
            ],
          },
        },
        {
          mark: { type: 'text', font: FONT, fontSize: Math.max(8, Math.min(12, Math.round(cell / 3.6))) },
          encoding: {
            text: { field: 'value', type: 'quantitative', format: '.2f' },
            color: { condition: { test: `datum.value > ${darkAbove}`, value: 'white' }, value: 'black' },
          },
        },
      ],
    },
    config: { view: { stroke: null }, font: FONT },
  } as VegaLiteSpec;
}

export interface RenderedHeatmap {
  svg: string;
  png: Buffer;
  html: string;
}

export async function renderHeatmap(texts: readonly string[], panels: readonly HeatmapPanel[], opts: HeatmapOptions = {}): Promise<RenderedHeatmap> {
  const svg = await renderSvg(heatmapSpec(texts, panels, opts));
  const png = svgToPng(svg, opts.scale ?? 2);
  const title = opts.title ?? 'Cosine similarity';
  const rows = texts.map((t, i) => `<tr><td>${i + 1}</td><td>${escapeHtml(t)}</td></tr>`).join('\n');
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:${FONT};margin:24px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}figure{margin:0;overflow-x:auto}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<p>Models: ${panels.map((p) => `<code>${escapeHtml(p.model)}</code>`).join(', ')}</p>
<figure>${svg}</figure>
<h2>Texts</h2>
<table><thead><tr><th>#</th><th>text</th></tr></thead><tbody>
${rows}
</tbody></table>
</body></html>
`;
  return { svg, png, html };
}

/** Write heatmap.svg, heatmap.png and heatmap.html into `dir`; returns their paths. */
export async function writeHeatmap(dir: string, texts: readonly string[], panels: readonly HeatmapPanel[], opts: HeatmapOptions = {}): Promise<{ svg: string; png: string; html: string }> {
  const r = await renderHeatmap(texts, panels, opts);
  const paths = { svg: join(dir, 'heatmap.svg'), png: join(dir, 'heatmap.png'), html: join(dir, 'heatmap.html') };
  writeFileAtomic(paths.svg, r.svg);
  writeFileAtomic(paths.png, r.png);
  writeFileAtomic(paths.html, r.html);
  return paths;
}
