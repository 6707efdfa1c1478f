/**
 * The CLI's first word. `sbert-train` takes either a recipe file (the default command) or a
 * command name, so yargs reads any word that is not a command as a recipe path: a mistyped
 * command (`sbert-train evaluate --model m --sts s`) would be refused as "Unknown arguments:
 * model, sts". Looking at the first word before yargs does lets the message say what happened.
 */
import { existsSync, readFileSync } from 'node:fs';
import { nearest } from '../recipe/validate.js';

/** Global options that take a value: `--backend wasm evaluate` still has 'evaluate' first. */
const GLOBAL_VALUE_OPTIONS = new Set(['--backend', '--threads']);

/** The names a user can type, from the command modules (`'search [query]'` -> `search`; the default `$0` command is none). */
export function commandNames(modules: ReadonlyArray<{ command?: string | readonly string[] }>): string[] {
  const names: string[] = [];
  for (const m of modules) {
    for (const c of [m.command ?? []].flat()) {
      const word = c.trim().split(/\s+/)[0];
      if (word && word !== '$0') names.push(word);
    }
  }
  return names;
}

/**
 * The word in command position: the first argument after the global options, when it is not
 * an option itself. Null when an option comes first (`--model x`): yargs then decides, and a
 * missing recipe or command shows the usage.
 */
export function firstWord(argv: readonly string[]): string | null {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (GLOBAL_VALUE_OPTIONS.has(a)) {
      i += 1;
      continue;
    }
    if ([...GLOBAL_VALUE_OPTIONS].some((o) => a.startsWith(`${o}=`))) continue;
    return a.startsWith('-') ? null : a;
  }
  return null;
}

/**
 * "unknown command 'evaluate' (did you mean 'eval'?)" when the first word is neither a command
 * nor a recipe: not an existing file, and no path separator or extension (`x.yaml` and
 * `dir/x` stay recipes, whose absence the train command reports). Null when all is well.
 */
export function unknownCommand(argv: readonly string[], names: readonly string[]): string | null {
  const word = firstWord(argv);
  if (word === null || names.includes(word) || /[./\\]/.test(word) || existsSync(word)) return null;
  const lower = word.toLowerCase();
  const guess = names.find((n) => lower.startsWith(n) || (lower.length >= 3 && n.startsWith(lower))) ?? nearest(word, names);
  const shown = JSON.stringify(word).slice(1, -1); // one line, whatever was typed
  return guess
    ? `unknown command '${shown}' (did you mean '${guess}'?)`
    : `unknown command '${shown}' (commands: ${names.join(', ')}; or give a recipe .yaml file)`;
}

/**
 * sbert-train's own version, from its package.json (two folders up from src/cli/ and from
 * dist/cli/ alike). yargs' default looks for the package.json nearest the working folder,
 * which in a project that depends on sbert-train is that project's.
 */
export function ownVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
