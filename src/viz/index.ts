/**
 * Charts and heatmaps: Vega-Lite specs rendered headless to SVG, rasterised with resvg to PNG.
 */
export { renderSvg, svgToPng, pngSize, escapeHtml, FONT, type VegaLiteSpec } from './render.js';
export { heatmapSpec, renderHeatmap, writeHeatmap, cosineSimilarityMatrix, type HeatmapPanel, type HeatmapOptions, type RenderedHeatmap } from './heatmap.js';
export { lossCurveSpec, evalCurveSpec, scatterSpec, modelBarsSpec } from './charts.js';
export { axisLabels, truncateLabel, MAX_LABEL_CHARS } from './labels.js';
