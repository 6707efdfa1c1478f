/**
 * Prompts and Matryoshka truncation: the two ways one model embeds texts differently on request.
 *
 * Prompts, as sentence-transformers 3+ keeps them: `config_sentence_transformers.json` holds
 * `prompts` (name -> text) and `default_prompt_name` (a name, or null). Encoding with a prompt
 * prepends its text to every input before tokenisation (`"query: " + text`), so the prompt's
 * tokens go through the transformer and, with Pooling's `include_prompt: true` (what
 * sentence-transformers and sbert-train write), through the pooling too.
 * https://sbert.net/examples/sentence_transformer/applications/computing-embeddings/README.html#prompt-templates
 *
 * Truncation: a Matryoshka-trained model's first `dim` values are an embedding on their own
 * (Kusupati et al. 2022, https://arxiv.org/abs/2205.13147). sbert-train keeps the prefix and
 * L2-normalises it again, so a truncated embedding is a unit vector whatever the model's own
 * Normalize module did, and dot product and cosine agree on it.
 */
import { ModelError, UserError } from '../errors.js';

export interface PromptConfig {
  /** Name -> text prepended to the input. */
  prompts: Record<string, string>;
  /** Prompt used when an encode call names none; null for none. */
  defaultPromptName: string | null;
}

export const NO_PROMPTS: PromptConfig = Object.freeze({ prompts: Object.freeze({}) as Record<string, string>, defaultPromptName: null });

/** `prompts` and `default_prompt_name` of a config_sentence_transformers.json object, checked. */
export function promptsFromConfig(raw: Record<string, unknown>, file: string): PromptConfig {
  const p = raw.prompts;
  const prompts: Record<string, string> = {};
  if (p !== undefined && p !== null) {
    if (typeof p !== 'object' || Array.isArray(p)) throw new ModelError(`${file}: prompts must be a mapping of prompt name to text, got ${JSON.stringify(p)}`);
    for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
      if (typeof v !== 'string') throw new ModelError(`${file}: prompts.${k} must be a text, got ${JSON.stringify(v)}`);
      prompts[k] = v;
    }
  }
  const d = raw.default_prompt_name;
  if (d !== undefined && d !== null && typeof d !== 'string') throw new ModelError(`${file}: default_prompt_name must be a prompt name or null, got ${JSON.stringify(d)}`);
  const defaultPromptName = typeof d === 'string' ? d : null;
  // sentence-transformers refuses such a model at load time too.
  if (defaultPromptName !== null && !Object.hasOwn(prompts, defaultPromptName)) {
    throw new ModelError(`${file}: default_prompt_name '${defaultPromptName}' is not one of its prompts (${promptList(prompts)})`);
  }
  return { prompts, defaultPromptName };
}

function promptList(prompts: Record<string, string>): string {
  const names = Object.keys(prompts);
  return names.length ? names.join(', ') : 'it has none';
}

/**
 * The text to prepend, as `SentenceTransformer.encode` picks it: an explicit `prompt` text
 * first (`''` for none, even over a default), else the prompt named `promptName`, else the
 * default prompt, else none. An unknown name is a UserError listing the model's prompts.
 */
export function resolvePrompt(cfg: PromptConfig, opts: { prompt?: string; promptName?: string }, source: string): string {
  if (opts.prompt !== undefined) return opts.prompt;
  if (opts.promptName !== undefined) {
    if (!Object.hasOwn(cfg.prompts, opts.promptName)) throw new UserError(`model ${source}: no prompt named '${opts.promptName}' (its prompts: ${promptList(cfg.prompts)})`);
    return cfg.prompts[opts.promptName];
  }
  return cfg.defaultPromptName === null ? '' : cfg.prompts[cfg.defaultPromptName];
}

/**
 * The prompt sentence-transformers 5's encode_query / encode_document would use: the first of
 * `names` the model has (query: `query`; documents: `document`, `passage`, `corpus`), else the
 * model's default prompt (or none).
 */
export function rolePrompt(cfg: PromptConfig, role: 'query' | 'document'): string {
  const names = role === 'query' ? ['query'] : ['document', 'passage', 'corpus'];
  const found = names.find((n) => Object.hasOwn(cfg.prompts, n));
  return found !== undefined ? cfg.prompts[found] : resolvePrompt(cfg, {}, '');
}

/** An encoder that may know its prompts (SentenceEncoder does; a bare encoder has none). */
export interface MaybePrompted {
  prompts?: PromptConfig;
  promptFor?(opts: { prompt?: string; promptName?: string }): string;
}

/**
 * The prompt `encoder` puts before a query's / document's text (rolePrompt, checked by the
 * model's promptFor); '' for a model without prompts. Index build and mining both use it.
 */
export function encoderRolePrompt(encoder: MaybePrompted, role: 'query' | 'document'): string {
  if (!encoder.prompts || !encoder.promptFor) return '';
  return encoder.promptFor({ prompt: rolePrompt(encoder.prompts, role) });
}

/** A --dim / dims value must be a whole number from 1 to the model's embedding size. */
export function checkTruncateDim(dim: number, modelDim: number, what: string, source: string): void {
  if (!Number.isInteger(dim) || dim < 1) throw new UserError(`${what} must be a whole number >= 1, got ${dim}`);
  if (dim > modelDim) throw new UserError(`${what} ${dim} is more than the ${modelDim} values model ${source} makes per embedding`);
}

/** The first `dim` values of each row, L2-normalised again (eps 1e-12, as torch normalize). */
export function truncateRows(rows: readonly Float32Array[], dim: number): Float32Array[] {
  return rows.map((row) => {
    const out = row.slice(0, dim);
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += out[i] * out[i];
    const scale = 1 / Math.max(Math.sqrt(ss), 1e-12);
    for (let i = 0; i < dim; i++) out[i] *= scale;
    return out;
  });
}
