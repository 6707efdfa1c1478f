/**
 * The Matryoshka table: one row per embedding size, the cosine correlations of the truncated,
 * re-normalised embeddings (`pearson_cosine@d`, `spearman_cosine@d` from the STS evaluator's
 * `dims`) side by side for each column (a model, a data set). Used by run reports and model cards.
 *
 * | Dim | dev spearman | dev pearson | test spearman | ... |
 */
import { escapeHtml } from '../viz/render.js';

const AT = /^(?:(.*)_)?(spearman|pearson)_cosine@(\d+)$/;

/** The dims with a `spearman_cosine@d` in any of `columns`, largest first. */
export function reportedDims(columns: ReadonlyArray<readonly [string, Record<string, number> | null]>): number[] {
  const dims = new Set<number>();
  for (const [, m] of columns) for (const k of Object.keys(m ?? {})) {
    const hit = AT.exec(k);
    if (hit && hit[2] === 'spearman') dims.add(Number(hit[3]));
  }
  return [...dims].sort((a, b) => b - a);
}

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(4);
}

/** The table's cells: a header, then per dim its value for each column and correlation. */
function cells(columns: ReadonlyArray<readonly [string, Record<string, number> | null]>, prefix: string): { head: string[]; rows: string[][] } | null {
  const dims = reportedDims(columns);
  if (!dims.length) return null;
  const shown = columns.filter(([, m]) => m && dims.some((d) => `${prefix}spearman_cosine@${d}` in m));
  const head = ['Dim', ...shown.flatMap(([name]) => [`${name} spearman_cosine`, `${name} pearson_cosine`])];
  const rows = dims.map((d) => [String(d), ...shown.flatMap(([, m]) => [fmt(m?.[`${prefix}spearman_cosine@${d}`]), fmt(m?.[`${prefix}pearson_cosine@${d}`])])]);
  return { head, rows };
}

/** Markdown lines of the table (empty when no column has per-dim metrics). `prefix`: an evaluator name and `_`, if the keys carry one. */
export function perDimMarkdown(columns: ReadonlyArray<readonly [string, Record<string, number> | null]>, prefix = ''): string[] {
  const t = cells(columns, prefix);
  if (!t) return [];
  return [`| ${t.head.join(' | ')} |`, `|--:|${t.head.slice(1).map(() => '--:').join('|')}|`, ...t.rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** A report section (./report.ts `sections`) with the table, or null when there are no per-dim metrics. */
export function perDimSection(columns: ReadonlyArray<readonly [string, Record<string, number> | null]>, prefix = ''): { title: string; markdown: string; html: string } | null {
  const t = cells(columns, prefix);
  if (!t) return null;
  const note = 'Cosine correlations of each embedding truncated to its first d values and re-normalised (Matryoshka).';
  const html =
    `<p class="note">${escapeHtml(note)}</p>\n<table><thead><tr>${t.head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>\n` +
    t.rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<td>${c}</td>` : `<td class="num">${c}</td>`)).join('')}</tr>`).join('\n') +
    '\n</tbody></table>';
  return { title: 'Matryoshka dimensions', markdown: `${note}\n\n${perDimMarkdown(columns, prefix).join('\n')}`, html };
}
