/**
 * Vega-Lite specs for report charts: training loss curve, evaluation curve, predicted-vs-gold
 * scatter, and a bar chart comparing models. Specs only; ./render.ts turns them into SVG.
 */
import { FONT, type VegaLiteSpec } from './render.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const base = { $schema: SCHEMA, background: 'white', padding: 8, config: { font: FONT, axis: { labelFont: FONT, titleFont: FONT }, legend: { labelFont: FONT, titleFont: FONT, labelLimit: 360 }, title: { font: FONT, anchor: 'start' as const } } };

/** Loss per training step. */
export function lossCurveSpec(points: ReadonlyArray<{ step: number; loss: number }>, title = 'Training loss'): VegaLiteSpec {
  return {
    ...base,
    title,
    width: 520,
    height: 220,
    data: { values: points.filter((p) => Number.isFinite(p.loss)).map((p) => ({ step: p.step, loss: p.loss })) },
    mark: { type: 'line', interpolate: 'monotone', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } },
    },
  } as VegaLiteSpec;
}

/** One quantity per step (learning rate, gradient norm, dev loss...): a line with points. */
export function stepSeriesSpec(points: ReadonlyArray<{ step: number; value: number }>, title: string, yTitle: string, opts: { zero?: boolean; points?: boolean } = {}): VegaLiteSpec {
  return {
    ...base,
    title,
    width: 520,
    height: 160,
    data: { values: points.filter((p) => Number.isFinite(p.value)).map((p) => ({ step: p.step, value: p.value })) },
    mark: { type: 'line', point: opts.points ?? false, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: opts.zero ?? false }, axis: { format: '~g' } },
    },
  } as VegaLiteSpec;
}

/** One line per metric over evaluation steps. */
export function evalCurveSpec(evals: ReadonlyArray<{ step: number; metrics: Record<string, number> }>, metricNames: readonly string[], title = 'Evaluation'): VegaLiteSpec {
  const values = evals.flatMap((e) => metricNames.filter((m) => Number.isFinite(e.metrics[m])).map((m) => ({ step: e.step, metric: m, value: e.metrics[m] })));
  return {
    ...base,
    title,
    width: 520,
    height: 220,
    data: { values },
    mark: { type: 'line', point: true, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: 'metric', scale: { zero: false } },
      color: { field: 'metric', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 2 } },
    },
  } as VegaLiteSpec;
}

/** Predicted similarity against gold score, one point per pair, with the Pearson r in the title. */
export function scatterSpec(gold: readonly number[], predicted: readonly number[], title: string): VegaLiteSpec {
  const values = gold.map((g, i) => ({ gold: g, predicted: predicted[i] })).filter((d) => Number.isFinite(d.gold) && Number.isFinite(d.predicted));
  return {
    ...base,
    title,
    width: 320,
    height: 320,
    data: { values },
    mark: { type: 'circle', size: 14, opacity: 0.45 },
    encoding: {
      x: { field: 'gold', type: 'quantitative', title: 'gold score' },
      y: { field: 'predicted', type: 'quantitative', title: 'cosine similarity', scale: { zero: false } },
    },
  } as VegaLiteSpec;
}

/** A horizontal bar per model for one metric. */
export function modelBarsSpec(rows: ReadonlyArray<{ model: string; value: number }>, metric: string): VegaLiteSpec {
  return {
    ...base,
    title: metric,
    width: 420,
    height: { step: 26 },
    data: { values: rows.filter((r) => Number.isFinite(r.value)) },
    layer: [
      { mark: { type: 'bar', color: '#d9482b' } },
      { mark: { type: 'text', align: 'left', dx: 4, font: FONT }, encoding: { text: { field: 'value', type: 'quantitative', format: '.4f' } } },
    ],
    encoding: {
      y: { field: 'model', type: 'nominal', sort: null, title: null, axis: { labelLimit: 360 } },
      x: { field: 'value', type: 'quantitative', title: null, scale: { domain: [Math.min(0, ...rows.map((r) => r.value).filter(Number.isFinite)), 1] } },
    },
  } as VegaLiteSpec;
}
