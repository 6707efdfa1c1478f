/**
 * How an index embeds its texts, beyond which model: a Matryoshka prefix (`index build --dim`)
 * and prompts (the model's `document` prompt for the items, its `query` prompt for queries,
 * as sentence-transformers 5's encode_document / encode_query choose them). Both are recorded
 * in the manifest's `model` entry, so `index add`, `search` and `serve` embed the same way
 * without being told:
 *
 *   model: { path, weightsHash, dim?: <the model's own size, when the index keeps a prefix>,
 *            prompts?: { document: "passage: ", query: "query: " } }
 *
 * An index without `prompts` (built before they existed, or from a model without any) embeds
 * with no prompt at all.
 */
import { UserError } from '../errors.js';
import { checkTruncateDim, encoderRolePrompt, type MaybePrompted as Prompted } from '../models/prompts.js';
import { checkEncoderMatches, modelRef, type TextEncoder } from './build.js';
import type { ModelRef } from './hnsw-index.js';
import type { Manifest } from './store.js';

/** An encoder that knows its prompts (SentenceEncoder); a bare TextEncoder has none. */
type MaybePrompted = TextEncoder & Prompted;

/** `encoder` seen through a prompt and a prefix size: what an index holds and searches with. */
export function embeddingView(encoder: TextEncoder, opts: { dim?: number; prompt?: string }): TextEncoder {
  const truncate = opts.dim !== undefined && opts.dim !== encoder.dim;
  return {
    dim: opts.dim ?? encoder.dim,
    source: encoder.source,
    weightsHash: () => encoder.weightsHash(),
    encode: (texts, o = {}) => encoder.encode(texts, { ...o, ...(truncate ? { dim: opts.dim } : {}), ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}) }),
  };
}

export interface IndexEmbeddingOptions {
  /** Keep the first `dim` values of each embedding (re-normalised). */
  dim?: number;
  /** The model's prompt for the items (default: its document / passage / corpus prompt, else its default prompt). */
  promptName?: string;
  /** The model's prompt for queries (default: its query prompt, else its default prompt). */
  queryPromptName?: string;
}

/** For a new index: the manifest's model entry and the encoder view that embeds its items. */
export async function indexEmbedding(encoder: MaybePrompted, spec: string, opts: IndexEmbeddingOptions = {}): Promise<{ model: ModelRef; documents: TextEncoder }> {
  if (opts.dim !== undefined) checkTruncateDim(opts.dim, encoder.dim, '--dim', encoder.source);
  const cfg = encoder.prompts;
  const pick = (name: string | undefined, role: 'query' | 'document'): string => {
    if (!cfg || !encoder.promptFor) {
      if (name !== undefined) throw new UserError(`model ${encoder.source} has no prompts; drop the prompt name '${name}'`);
      return '';
    }
    // promptFor checks the name, and that the model can pool a prompt.
    return name !== undefined ? encoder.promptFor({ promptName: name }) : encoderRolePrompt(encoder, role);
  };
  const document = pick(opts.promptName, 'document');
  const query = pick(opts.queryPromptName, 'query');
  const model: ModelRef = { ...(await modelRef(spec, encoder)) };
  if (opts.dim !== undefined && opts.dim < encoder.dim) model.dim = encoder.dim;
  if (document !== '' || query !== '') model.prompts = { document, query };
  return { model, documents: embeddingView(encoder, { dim: opts.dim, prompt: document }) };
}

/**
 * For an existing index: refuse another model (size or weights, checkEncoderMatches), then the
 * view that embeds `role` texts as the index was built to (its prefix size and prompt).
 */
export function indexedView(manifest: Pick<Manifest, 'dim' | 'model'>, encoder: TextEncoder, hash: string, dir: string, role: 'query' | 'document'): TextEncoder {
  const modelDim = manifest.model.dim ?? manifest.dim;
  checkEncoderMatches({ dim: modelDim, model: manifest.model }, encoder, hash, dir);
  return embeddingView(encoder, { dim: manifest.dim, prompt: manifest.model.prompts?.[role] ?? '' });
}
