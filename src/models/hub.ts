/**
 * Resolve a model spec to a local folder. An existing file or folder always wins: it is used
 * as an absolute path (relative specs resolve against the working folder, `~` against the
 * home folder). A spec written as a path (./ ../ / ~, or more than one slash) that does not
 * exist is an error, never a hub request. Only what is left, an `owner/name` (or legacy bare
 * name) that is not on disk, is a Hugging Face hub id (e.g.
 * sentence-transformers/all-MiniLM-L6-v2), whose files are downloaded once into a cache
 * folder (like huggingface_hub's cache) and read from there after that, also offline.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ModelError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { parseModules } from './modules.js';

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)?$/;
const ROOT_FILES = ['modules.json', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'sentence_bert_config.json', 'config_sentence_transformers.json', 'vocab.txt'];

export function cacheRoot(): string {
  return process.env.SBERT_TRAIN_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sbert-train', 'hub');
}

/**
 * True for a spec written as a path: it starts with ./ ../ / or ~, or has more than one slash
 * (a hub id has at most one: owner/name). Such a spec is never sent to the hub.
 */
export function looksLikePath(spec: string): boolean {
  return /^(\.\.?([\\/]|$)|~)/.test(spec) || isAbsolute(spec) || spec.split('/').length > 2;
}

/** `~` and `~/...` to the home folder: a recipe or an index manifest has no shell to expand them. */
export function expandHome(spec: string): string {
  return spec === '~' || /^~[\\/]/.test(spec) ? join(homedir(), spec.slice(1)) : spec;
}

/**
 * The absolute path of the existing file or folder `spec` names, relative to `baseDir` (the
 * working folder by default); null when there is none. Absolute, because
 * @huggingface/transformers reads a relative `owner/name`-shaped path as a hub id.
 */
export function localModelPath(spec: string, baseDir = process.cwd()): string | null {
  if (spec === '') return null;
  const path = resolve(baseDir, expandHome(spec));
  return existsSync(path) ? path : null;
}

export function looksLikeHubId(spec: string): boolean {
  return HUB_ID.test(spec) && !looksLikePath(spec) && localModelPath(spec) === null;
}

/** Local folder for a spec: the existing path made absolute, or the hub id's cached (downloaded) copy. */
export async function resolveModelFolder(spec: string): Promise<string> {
  const local = localModelPath(spec);
  if (local) return local;
  if (looksLikePath(spec)) throw new ModelError(`model folder not found: ${spec}`);
  if (!HUB_ID.test(spec)) throw new ModelError(`model folder not found: ${spec} (and not a hub id of the form owner/name)`);
  const dir = join(cacheRoot(), `models--${spec.replace(/\//g, '--')}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  if (process.env.HF_HUB_OFFLINE === '1') {
    throw new ModelError(`${spec}: not in the cache (${dir}) and HF_HUB_OFFLINE=1; download it on a machine with internet or pass a local folder`);
  }
  await download(spec, dir);
  return dir;
}

async function fetchFile(id: string, file: string, required: boolean): Promise<Buffer | null> {
  const endpoint = process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  const url = `${endpoint}/${id}/resolve/main/${file}`;
  const headers: Record<string, string> = {};
  if (process.env.HF_TOKEN) headers.authorization = `Bearer ${process.env.HF_TOKEN}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow' });
  } catch (e) {
    throw new ModelError(`${id}: cannot download from the Hugging Face hub (offline? ${(e as Error).message}); pass a local model folder instead`);
  }
  if (res.status === 404) {
    if (required) throw new ModelError(`${id}: the hub has no file '${file}' (is the id right?)`);
    return null;
  }
  if (res.status === 401 || res.status === 403) throw new ModelError(`${id}: access denied by the hub (private or gated model? set HF_TOKEN)`);
  if (!res.ok) throw new ModelError(`${id}: hub download of '${file}' failed with HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  if (total > 20e6 && process.stderr.isTTY) process.stderr.write(`downloading ${id}/${file} (${(total / 1e6).toFixed(0)} MB)...\n`);
  return Buffer.from(await res.arrayBuffer());
}

async function download(id: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const got = new Map<string, Buffer>();
  for (const f of ROOT_FILES) {
    const required = f === 'config.json' || f === 'model.safetensors' || f === 'tokenizer.json';
    const data = await fetchFile(id, f, required);
    if (data) got.set(f, data);
  }
  const modules = got.get('modules.json');
  if (modules) {
    // Checked before anything is written: a module path such as '../../x' must not place files outside the cache folder.
    const where = `${id}/modules.json`;
    let raw: unknown;
    try {
      raw = JSON.parse(modules.toString('utf8'));
    } catch (e) {
      throw new ModelError(`${where}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
    }
    for (const m of parseModules(raw, where)) {
      if (!m.path) continue;
      for (const f of ['config.json', 'model.safetensors']) {
        const data = await fetchFile(id, `${m.path}/${f}`, false);
        if (data) got.set(`${m.path}/${f}`, data);
      }
    }
  }
  for (const [f, data] of got) writeFileAtomic(join(dir, f), data);
  writeFileSync(join(dir, '.complete'), new Date().toISOString());
}

export function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ModelError(`${file}: cannot read file`);
  }
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object') throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new ModelError(`${file}: invalid JSON (${(e as Error).message})`);
  }
}
