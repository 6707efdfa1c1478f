/**
 * Chart rendering without a browser: a Vega-Lite spec is compiled to Vega, run headless
 * (View with renderer 'none'), and serialised to SVG; PNG comes from rasterising that SVG with
 * resvg, using the system fonts so CJK labels render (fonts-noto-cjk on Debian) instead of
 * tofu boxes. https://vega.github.io/vega/usage/#node , https://github.com/yisibl/resvg-js
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

/** Font stack used in every chart: Latin first, then CJK fallbacks. */
export const FONT = 'DejaVu Sans, Noto Sans CJK JP, Noto Sans CJK SC, Noto Sans, sans-serif';

export type VegaLiteSpec = vl.TopLevelSpec;

/** Compile and render a Vega-Lite spec to a standalone SVG string, cropped to its content. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return trimSvg(await view.toSVG());
  } finally {
    view.finalize();
  }
}

const HEAD = /^<svg([^>]*?) width="([\d.]+)" height="([\d.]+)" viewBox="([^"]*)"><rect width="[\d.]+" height="[\d.]+" fill="white"\/>/;

/**
 * Crop a Vega SVG to what is actually drawn, plus `margin` pixels. Vega sizes its canvas from
 * estimated text widths (no canvas in Node), which over-reserves room for long rotated axis
 * labels; resvg measures the text with the real fonts, so its bounding box is the true extent.
 */
export function trimSvg(svg: string, margin = 10): string {
  const m = HEAD.exec(svg);
  if (!m) return svg;
  const bare = svg.replace(HEAD, `<svg$1 width="$2" height="$3" viewBox="$4">`);
  const box = new Resvg(bare, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).getBBox();
  if (!box || !(box.width > 0 && box.height > 0)) return svg;
  const x = Math.floor(box.x - margin);
  const y = Math.floor(box.y - margin);
  const w = Math.ceil(box.width + 2 * margin);
  const h = Math.ceil(box.height + 2 * margin);
  return svg.replace(HEAD, `<svg$1 width="${w}" height="${h}" viewBox="${x} ${y} ${w} ${h}"><rect x="${x}" y="${y}" width="${w}" height="${h}" fill="white"/>`);
}

/** Rasterise an SVG to PNG at `scale` times its size, with system fonts loaded. */
export function svgToPng(svg: string, scale = 1): Buffer {
  const r = new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    fitTo: scale === 1 ? { mode: 'original' } : { mode: 'zoom', value: scale },
    background: 'white',
  });
  return r.render().asPng();
}

/** Width and height of a PNG, from its IHDR chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** Escape text for HTML / SVG element content and attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
