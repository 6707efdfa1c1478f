/**
 * Encoders: load a model (folder, hub id or `builtin:NAME`), embed text, train through
 * `forward`, save in the sentence-transformers layout.
 */
import { builtinEncoder } from './builtin.js';
import { loadFromSpec, type SentenceEncoder } from './sentence-encoder.js';

export type { Encoder, EncodeOptions, TokenBatch } from './types.js';
export { SentenceEncoder, loadFolder, maxUsableLength } from './sentence-encoder.js';
export { builtinEncoder, BUILTIN_MODELS, seededNormal, type BuiltinConfig } from './builtin.js';
export { POOLING_MODES, type PoolingMode } from './pooling.js';
export { ARCHITECTURES, parseConfig, type TransformerConfig } from './config.js';
export { resolveModelFolder, looksLikeHubId, looksLikePath, localModelPath, expandHome, cacheRoot } from './hub.js';

export interface LoadOptions {
  /** Seed for built-in models' initialisation (default 42). */
  seed?: number;
}

/**
 * Load a model: `builtin:NAME`, a local folder, or a Hugging Face hub id. An existing folder
 * wins over a hub id of the same name; a relative one resolves against the working folder.
 */
export async function loadEncoder(spec: string, opts: LoadOptions = {}): Promise<SentenceEncoder> {
  if (spec.startsWith('builtin:')) return builtinEncoder(spec.slice('builtin:'.length), opts.seed ?? 42);
  return loadFromSpec(spec);
}
