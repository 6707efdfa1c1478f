/**
 * Schema walk: type and range checks plus defaults, collecting every problem with its dotted
 * path instead of stopping at the first (changesets `config/src/parse.ts` does the same).
 */
import type { FieldSpec } from './schema.js';

/** Levenshtein distance, for "did you mean" suggestions on unknown keys. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest valid name, when it is close enough to be a plausible typo. */
export function nearest(name: string, valid: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const v of valid) {
    const d = editDistance(name.toLowerCase(), v.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = v;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

/** A key as it can be printed on one terminal line: control characters (NUL, ESC, newlines) escaped. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`; // JSON escapes control characters
  return `${typeof v} ${String(v)}`;
}

function rangeText(spec: { min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean }): string {
  const parts: string[] = [];
  if (spec.min !== undefined) parts.push(`${spec.exclusiveMin ? '>' : '>='} ${spec.min}`);
  if (spec.max !== undefined) parts.push(`${spec.exclusiveMax ? '<' : '<='} ${spec.max}`);
  return parts.join(' and ');
}

function inRange(n: number, spec: { min?: number; max?: number; exclusiveMin?: boolean; exclusiveMax?: boolean }): boolean {
  if (spec.min !== undefined && (spec.exclusiveMin ? n <= spec.min : n < spec.min)) return false;
  if (spec.max !== undefined && (spec.exclusiveMax ? n >= spec.max : n > spec.max)) return false;
  return true;
}

/**
 * Check `value` against `spec` and return it with defaults filled in. Problems are pushed to
 * `problems` as `path: message`; the returned value is then only good for further checks.
 */
export function validateValue(value: unknown, spec: FieldSpec, path: string, problems: string[]): unknown {
  const where = path || '(recipe)';
  if (value === undefined) {
    if ('required' in spec && spec.required) {
      problems.push(`${where}: required${spec.doc ? ` (${spec.doc})` : ''}`);
      return undefined;
    }
    if (spec.kind === 'object' && !(spec.nullable && spec.default === null)) return validateValue({}, spec, path, problems);
    return spec.default === undefined ? null : structuredClone(spec.default);
  }
  if (value === null) {
    if ('nullable' in spec && spec.nullable) return null;
    problems.push(`${where}: must not be null`);
    return undefined;
  }
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string' || value.trim() === '') {
        problems.push(`${where}: must be a non-empty string, got ${typeName(value)}`);
        return undefined;
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') {
        problems.push(`${where}: must be true or false, got ${typeName(value)}`);
        return undefined;
      }
      return value;
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        problems.push(`${where}: must be ${spec.integer ? 'an integer' : 'a number'}, got ${typeName(value)}`);
        return undefined;
      }
      if (spec.integer && !Number.isInteger(value)) {
        problems.push(`${where}: must be an integer, got ${value}`);
        return undefined;
      }
      if (!inRange(value, spec)) {
        problems.push(`${where}: must be ${rangeText(spec)}, got ${value}`);
        return undefined;
      }
      return value;
    }
    case 'enum': {
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        const near = typeof value === 'string' ? nearest(value, spec.values) : null;
        problems.push(`${where}: must be one of ${spec.values.join(', ')}, got ${typeName(value)}${near ? ` (did you mean '${near}'?)` : ''}`);
        return undefined;
      }
      return value;
    }
    case 'numberPair': {
      if (!Array.isArray(value) || value.length !== 2 || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        problems.push(`${where}: must be a list of two numbers, got ${typeName(value)}`);
        return undefined;
      }
      const bad = value.findIndex((x: number) => !inRange(x, spec));
      if (bad >= 0) {
        problems.push(`${where}[${bad}]: must be ${rangeText(spec)}, got ${value[bad]}`);
        return undefined;
      }
      return [value[0], value[1]];
    }
    case 'column':
      if (!isColumn(value)) {
        problems.push(`${where}: must be a column name or a 0-based column index, got ${typeName(value)}`);
        return undefined;
      }
      return value;
    case 'columnList': {
      const list = Array.isArray(value) ? value : [value];
      if (list.length < spec.minItems) {
        problems.push(`${where}: must list at least ${spec.minItems} column(s)`);
        return undefined;
      }
      let ok = true;
      list.forEach((c, i) => {
        if (!isColumn(c)) {
          problems.push(`${where}[${i}]: must be a column name or a 0-based column index, got ${typeName(c)}`);
          ok = false;
        }
      });
      return ok ? [...list] : undefined;
    }
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push(`${where}: must be a mapping (key: value), got ${typeName(value)}`);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const keys = Object.keys(spec.fields);
      for (const k of Object.keys(value)) {
        if (!(k in spec.fields)) {
          const near = nearest(k, keys);
          const p = path ? `${path}.${printable(k)}` : printable(k);
          problems.push(`${p}: unknown key${near ? ` (did you mean '${near}'?)` : `; valid keys: ${keys.join(', ')}`}`);
        }
      }
      for (const k of keys) {
        out[k] = validateValue((value as Record<string, unknown>)[k], spec.fields[k], path ? `${path}.${k}` : k, problems);
      }
      return out;
    }
    case 'list': {
      if (!Array.isArray(value)) {
        problems.push(`${where}: must be a list, got ${typeName(value)}`);
        return undefined;
      }
      if (spec.minItems !== undefined && value.length < spec.minItems) {
        problems.push(`${where}: must list at least ${spec.minItems} item(s), got ${value.length}`);
        return undefined;
      }
      if (spec.maxItems !== undefined && value.length > spec.maxItems) {
        problems.push(`${where}: must list at most ${spec.maxItems} item(s), got ${value.length}`);
        return undefined;
      }
      const before = problems.length;
      const out = value.map((item, i) => validateValue(item, spec.items as FieldSpec, `${path}[${i}]`, problems));
      if (problems.length > before) return undefined;
      if (spec.unique) {
        const seen = new Set<string>();
        for (const [i, item] of out.entries()) {
          const k = JSON.stringify(item);
          if (seen.has(k)) {
            problems.push(`${path}[${i}]: ${k} is listed twice`);
            return undefined;
          }
          seen.add(k);
        }
      }
      return out;
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push(`${where}: must be a mapping (name: value), got ${typeName(value)}`);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      const before = problems.length;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const p = `${path}.${printable(k)}`;
        if (k.trim() === '') problems.push(`${p}: empty name`);
        else out[k] = validateValue(v, spec.values as FieldSpec, p, problems);
      }
      return problems.length > before ? undefined : out;
    }
    case 'oneOf': {
      const option = spec.options.find((o) => shapeOf(o) === yamlShape(value));
      if (!option) {
        const wants = [...new Set(spec.options.map(shapeOf))].map((s) => SHAPE_NAMES[s]).join(' or ');
        problems.push(`${where}: must be ${wants}, got ${typeName(value)}`);
        return undefined;
      }
      return validateValue(value, option, path, problems);
    }
  }
}

type Shape = 'string' | 'number' | 'boolean' | 'list' | 'mapping';
const SHAPE_NAMES: Record<Shape, string> = { string: 'a string', number: 'a number', boolean: 'true or false', list: 'a list', mapping: 'a mapping' };

/** The YAML type a spec accepts (for `oneOf`). */
function shapeOf(spec: FieldSpec): Shape {
  switch (spec.kind) {
    case 'string':
    case 'enum':
    case 'column':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'numberPair':
    case 'columnList':
    case 'list':
      return 'list';
    case 'object':
    case 'map':
      return 'mapping';
    case 'oneOf':
      throw new Error('internal: oneOf inside oneOf');
  }
}

function yamlShape(v: unknown): Shape | null {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object' && v !== null) return 'mapping';
  return null;
}

function isColumn(v: unknown): v is string | number {
  return (typeof v === 'string' && v.trim() !== '') || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
}
