/**
 * Evaluation reports: `report.json` (machine-readable, everything), `report.md` (tables to
 * paste into a model card) and `report.html` (self-contained: tables plus inline SVG charts,
 * no scripts, no network). Written by `sbert-train eval` and by training runs.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { escapeHtml, FONT, renderSvg } from '../viz/render.js';
import { evalCurveSpec, lossCurveSpec, modelBarsSpec, scatterSpec, stepSeriesSpec } from '../viz/charts.js';
import { pearson } from './metrics.js';
import type { EvaluationResult } from './types.js';

export interface ModelResults {
  /** Model as given by the user: folder, hub id, `builtin:tiny`, or a label like `tuned`. */
  model: string;
  results: EvaluationResult[];
}

export interface ScatterData {
  gold: number[];
  predicted: number[];
  /** Which model / dataset the points belong to (chart title). */
  label?: string;
}

export interface TrainingHistory {
  /** Logged training steps; `lr` and `grad_norm` get a chart each when present. */
  loss: Array<{ step: number; loss: number; lr?: number; grad_norm?: number }>;
  /** Evaluations in step order; a step-0 entry is the model before training (the baseline). */
  evals: Array<{ step: number; metrics: Record<string, number> }>;
}

export interface ReportData {
  title: string;
  models: ModelResults[];
  history?: TrainingHistory;
  scatter?: ScatterData | ScatterData[];
  /** Extra facts shown under the title (dataset, split, pairs, date...). */
  meta?: Record<string, string | number>;
  /** More sections after the tables (e.g. a confusion matrix): a body for report.md and one for report.html. */
  sections?: Array<{ title: string; markdown: string; html: string }>;
}

export interface ReportPaths {
  json: string;
  md: string;
  html: string;
}

/** 4 decimals, like sentence-transformers' model cards; NaN shown as n/a. */
function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(4);
}

/** Evaluation names in first-seen order, and per name the union of metric keys. */
function evaluationTables(models: readonly ModelResults[]): Array<{ name: string; primary: string; keys: string[] }> {
  const tables = new Map<string, { name: string; primary: string; keys: string[] }>();
  for (const m of models) {
    for (const r of m.results) {
      const t = tables.get(r.name) ?? { name: r.name, primary: r.primaryMetric, keys: [] };
      for (const k of Object.keys(r.metrics)) if (!t.keys.includes(k)) t.keys.push(k);
      tables.set(r.name, t);
    }
  }
  return [...tables.values()];
}

function valueOf(m: ModelResults, name: string, key: string): number | undefined {
  return m.results.find((r) => r.name === name)?.metrics[key];
}

/** Strip the evaluation-name prefix for table rows: `stsb-test_spearman_cosine` -> `spearman_cosine`. */
function shortKey(name: string, key: string): string {
  return name && key.startsWith(`${name}_`) ? key.slice(name.length + 1) : key;
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function reportMarkdown(data: ReportData): string {
  const out: string[] = [`# ${data.title}`, ''];
  if (data.meta && Object.keys(data.meta).length) {
    for (const [k, v] of Object.entries(data.meta)) out.push(`- **${mdCell(k)}**: ${mdCell(String(v))}`);
    out.push('');
  }
  for (const t of evaluationTables(data.models)) {
    out.push(`## ${t.name || 'Evaluation'}`, '');
    out.push(`| Metric | ${data.models.map((m) => mdCell(m.model)).join(' | ')} |`);
    out.push(`|:--|${data.models.map(() => '--:').join('|')}|`);
    for (const k of t.keys) {
      const bold = k === t.primary ? '**' : '';
      out.push(`| ${bold}${mdCell(shortKey(t.name, k))}${bold} | ${data.models.map((m) => `${bold}${fmt(valueOf(m, t.name, k))}${bold}`).join(' | ')} |`);
    }
    out.push('', `Primary metric: \`${shortKey(t.name, t.primary)}\`.`, '');
  }
  for (const s of data.sections ?? []) out.push(`## ${s.title}`, '', s.markdown.trimEnd(), '');
  if (data.history) {
    const last = data.history.loss.at(-1);
    out.push('## Training', '');
    out.push(`- steps logged: ${data.history.loss.length}${last ? `, final loss ${fmt(last.loss)} at step ${last.step}` : ''}`);
    out.push(`- evaluations: ${data.history.evals.length}`, '', 'Charts: see report.html.', '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/**
 * Metrics to draw on the evaluation curve: the primary ones and the cosine correlations, else
 * every key (at most 8). Losses (`dev_loss`) get their own chart: their scale is not a correlation's.
 */
function curveMetrics(data: ReportData): string[] {
  const evals = data.history?.evals ?? [];
  const keys = [...new Set(evals.flatMap((e) => Object.keys(e.metrics)))].filter((k) => !isLoss(k));
  const primaries = new Set(data.models.flatMap((m) => m.results.map((r) => r.primaryMetric)));
  const wanted = keys.filter((k) => primaries.has(k) || /(spearman|pearson)_cosine$/.test(k));
  return (wanted.length ? wanted : keys).slice(0, 8);
}

const isLoss = (k: string) => /(^|_)loss$/.test(k);

/** At most `max` points, evenly spaced, the last one kept: a long run's curves stay light to draw and to load. */
function thin<T>(points: readonly T[], max = 2000): T[] {
  if (points.length <= max) return [...points];
  const every = Math.ceil(points.length / max);
  return points.filter((_, i) => i % every === 0 || i === points.length - 1);
}

/** Charts of the training history: loss, lr, grad_norm, the evaluation curve (from the step-0 baseline) and dev loss. */
async function historyCharts(data: ReportData, h: TrainingHistory): Promise<string[]> {
  const figures: string[] = [];
  const fig = async (spec: Parameters<typeof renderSvg>[0]) => figures.push(`<figure>${await renderSvg(spec)}</figure>`);
  const logged = thin(h.loss);
  if (logged.length) await fig(lossCurveSpec(logged));
  const series = (key: 'lr' | 'grad_norm') => logged.filter((p) => typeof p[key] === 'number').map((p) => ({ step: p.step, value: p[key]! }));
  const lr = series('lr');
  if (lr.length) await fig(stepSeriesSpec(lr, 'Learning rate', 'lr', { zero: true }));
  const norm = series('grad_norm');
  if (norm.length) await fig(stepSeriesSpec(norm, 'Gradient norm', 'grad_norm'));
  const names = curveMetrics(data);
  const baseline = h.evals.some((e) => e.step === 0);
  if (h.evals.length && names.length) await fig(evalCurveSpec(h.evals, names, baseline ? 'Evaluation (step 0: before training)' : 'Evaluation'));
  const losses = [...new Set(h.evals.flatMap((e) => Object.keys(e.metrics)))].filter(isLoss);
  for (const k of losses) {
    const pts = h.evals.filter((e) => Number.isFinite(e.metrics[k])).map((e) => ({ step: e.step, value: e.metrics[k] }));
    if (pts.length) await fig(stepSeriesSpec(pts, k === 'dev_loss' ? `Dev loss${baseline ? ' (step 0: before training)' : ''}` : k, k, { points: true }));
  }
  return figures;
}

function htmlTable(data: ReportData, t: { name: string; primary: string; keys: string[] }): string {
  const head = `<tr><th>Metric</th>${data.models.map((m) => `<th>${escapeHtml(m.model)}</th>`).join('')}</tr>`;
  const rows = t.keys
    .map((k) => {
      const cls = k === t.primary ? ' class="primary"' : '';
      return `<tr${cls}><td>${escapeHtml(shortKey(t.name, k))}</td>${data.models.map((m) => `<td class="num">${fmt(valueOf(m, t.name, k))}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<h2>${escapeHtml(t.name || 'Evaluation')}</h2>\n<table><thead>${head}</thead><tbody>\n${rows}\n</tbody></table>\n<p class="note">Primary metric (bold): <code>${escapeHtml(shortKey(t.name, t.primary))}</code></p>`;
}

export async function reportHtml(data: ReportData): Promise<string> {
  const parts: string[] = [];
  if (data.meta && Object.keys(data.meta).length) {
    parts.push(`<ul class="meta">${Object.entries(data.meta).map(([k, v]) => `<li><b>${escapeHtml(k)}</b>: ${escapeHtml(String(v))}</li>`).join('')}</ul>`);
  }
  const tables = evaluationTables(data.models);
  for (const t of tables) {
    parts.push(htmlTable(data, t));
    if (data.models.length > 1) {
      const svg = await renderSvg(modelBarsSpec(data.models.map((m) => ({ model: m.model, value: valueOf(m, t.name, t.primary) ?? NaN })), shortKey(t.name, t.primary)));
      parts.push(`<figure>${svg}</figure>`);
    }
  }
  for (const s of data.sections ?? []) parts.push(`<h2>${escapeHtml(s.title)}</h2>`, s.html);
  if (data.history) {
    parts.push('<h2>Training</h2>');
    parts.push(...(await historyCharts(data, data.history)));
  }
  const scatters = data.scatter ? (Array.isArray(data.scatter) ? data.scatter : [data.scatter]) : [];
  if (scatters.length) {
    parts.push('<h2>Predicted vs gold</h2><div class="row">');
    for (const s of scatters) {
      const r = pearson(s.gold, s.predicted);
      parts.push(`<figure>${await renderSvg(scatterSpec(s.gold, s.predicted, `${s.label ?? 'cosine vs gold'} (pearson ${fmt(r)})`))}</figure>`);
    }
    parts.push('</div>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(data.title)}</title>
<style>
body{font-family:${FONT};margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.primary td{font-weight:bold;background:#fff4e5}
.note{color:#666;font-size:90%}figure{margin:12px 0;overflow-x:auto}.row{display:flex;flex-wrap:wrap;gap:16px}
</style></head><body>
<h1>${escapeHtml(data.title)}</h1>
${parts.join('\n')}
<p class="note">Generated by sbert-train.</p>
</body></html>
`;
}

/**
 * Write report.json, report.md and report.html into `dir` (each atomically). This is the one
 * entry point for training runs and `sbert-train eval`; see ./index.ts for the data layout.
 */
export async function writeReport(dir: string, data: ReportData): Promise<ReportPaths> {
  const paths = { json: join(dir, 'report.json'), md: join(dir, 'report.md'), html: join(dir, 'report.html') };
  const html = await reportHtml(data);
  // JSON cannot hold NaN; null marks a metric that could not be computed
  const json = JSON.stringify({ ...data, generatedAt: new Date().toISOString() }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
  writeFileAtomic(paths.json, `${json}\n`);
  writeFileAtomic(paths.md, reportMarkdown(data));
  writeFileAtomic(paths.html, html);
  return paths;
}
