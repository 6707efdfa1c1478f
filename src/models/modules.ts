/**
 * modules.json: the list of a sentence-transformers model's modules in order (Transformer,
 * Pooling, Dense, Normalize), each with the sub-folder that holds its files.
 * https://sbert.net/docs/sentence_transformer/usage/custom_models.html
 *
 * The file comes from someone else (a download, a shared folder), so every module path must
 * stay inside the model folder: a '../../etc', an absolute path, or a sub-folder that is a
 * symlink to somewhere else is refused, never read (nor, for a download, written to).
 * Only the module folders are checked, not the files in them: the Hugging Face cache keeps
 * every file as a symlink into its blobs/ folder, outside the snapshot folder.
 */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { ModelError } from '../errors.js';

export interface ModuleEntry {
  /** Sub-folder relative to the model folder; '' for the model folder itself. */
  path: string;
  /** The Python class, e.g. sentence_transformers.models.Pooling. */
  type: string;
  /** The class name alone: Transformer, Pooling, Dense, Normalize... */
  kind: string;
  /** How errors name the entry: its index and path. */
  label: string;
}

/** Validate a parsed modules.json; `file` names it in errors. */
export function parseModules(raw: unknown, file: string): ModuleEntry[] {
  if (!Array.isArray(raw)) throw new ModelError(`${file}: expected a JSON list of modules`);
  return raw.map((m: unknown, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new ModelError(`${file}: entry ${i} is not an object`);
    const { path = '', type = '' } = m as { path?: unknown; type?: unknown };
    if (typeof path !== 'string') throw new ModelError(`${file}: entry ${i}: path must be a string, got ${JSON.stringify(path)}`);
    const label = `entry ${i} (path '${path}')`;
    // Both separators: a model folder is meant to load on every platform.
    if (isAbsolute(path) || /^([\\/]|[A-Za-z]:)/.test(path) || path.split(/[\\/]/).includes('..')) {
      throw new ModelError(`${file}: ${label} leaves the model folder; module paths must be sub-folders of it`);
    }
    const t = String(type ?? '');
    return { path, type: t, kind: t.split('.').pop() ?? '', label };
  });
}

/**
 * The folder of a module inside `root`. When it exists, its real path (symlinks followed)
 * must lie inside the real path of `root` as well.
 */
export function moduleFolder(root: string, m: ModuleEntry, file: string): string {
  const dir = join(root, m.path);
  if (m.path === '' || !existsSync(dir)) return dir;
  const real = realpathSync(dir);
  const rel = relative(realpathSync(root), real);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new ModelError(`${file}: ${m.label} is a symlink that leaves the model folder (to ${real})`);
  }
  return dir;
}
