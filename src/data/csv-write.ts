/**
 * Write rows as RFC 4180 csv (quote a field when it holds a comma, quote or line break;
 * double the quotes inside), atomically, so a crash never leaves half a data file.
 */
import { writeFileAtomic } from '../util/fs.js';

export function csvField(v: string | number): string {
  const s = typeof v === 'number' ? String(v) : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

export function writeCsvAtomic(path: string, header: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  writeFileAtomic(path, toCsv(header, rows));
}
