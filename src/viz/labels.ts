/**
 * Axis labels for charts: one line each, at most `max` characters (longer ones end in an
 * ellipsis), and unique, because a chart's categorical axis merges equal labels into one
 * row, which would silently misplace cells.
 */
export const MAX_LABEL_CHARS = 40;

/** Collapse whitespace and cut to `max` characters (by code point, so CJK and emoji stay whole). */
export function truncateLabel(text: string, max = MAX_LABEL_CHARS): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  const chars = Array.from(oneLine);
  return chars.length <= max ? oneLine : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/** Truncate, then make duplicates distinct by appending ` (2)`, ` (3)`, ... in order. */
export function axisLabels(texts: readonly string[], max = MAX_LABEL_CHARS): string[] {
  const seen = new Map<string, number>();
  const used = new Set<string>();
  return texts.map((t) => {
    const base = truncateLabel(t, max) || '(empty)';
    let label = base;
    let n = seen.get(base) ?? 1;
    while (used.has(label)) label = `${base} (${++n})`;
    seen.set(base, n);
    used.add(label);
    return label;
  });
}
