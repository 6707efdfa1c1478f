/**
 * Tokenisation through @huggingface/transformers (the same tokenizer.json a Python model
 * folder ships), turned into a padded TokenBatch. Texts are truncated to maxSeqLength tokens
 * (special tokens included) and padded on the right to the longest text in the batch, as
 * sentence-transformers' Transformer.tokenize does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AutoTokenizer, PreTrainedTokenizer } from '@huggingface/transformers';
import { ModelError } from '../errors.js';
import type { TokenBatch } from './types.js';

/** Files of a tokenizer that we copy along when a model is saved. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'vocab.json',
  'merges.txt',
  'sentencepiece.bpe.model',
  'spiece.model',
  'added_tokens.json',
];

type HfTokenizer = PreTrainedTokenizer;

export class Tokenizer {
  constructor(
    private readonly hf: HfTokenizer,
    readonly padTokenId: number,
    /** The tokenizer's files (tokenizer.json, vocab, configs) as bytes, written when the model is saved. */
    readonly files: Map<string, Buffer>,
  ) {}

  static async fromFolder(folder: string): Promise<Tokenizer> {
    // Absolute: transformers.js looks a relative owner/name-shaped path up under its own models folder, then on the hub.
    const dir = resolve(folder);
    if (!existsSync(join(dir, 'tokenizer.json'))) {
      throw new ModelError(`${join(dir, 'tokenizer.json')}: missing tokenizer file (sbert-train needs the fast-tokenizer tokenizer.json in the model folder)`);
    }
    let hf: HfTokenizer;
    try {
      hf = (await AutoTokenizer.from_pretrained(dir, { local_files_only: true })) as HfTokenizer;
    } catch (e) {
      throw new ModelError(`${join(dir, 'tokenizer.json')}: cannot load tokenizer: ${(e as Error).message.split('\n')[0]}`);
    }
    const files = new Map<string, Buffer>();
    for (const f of TOKENIZER_FILES) {
      const p = join(dir, f);
      if (existsSync(p)) files.set(f, readFileSync(p));
    }
    return new Tokenizer(hf, padId(hf), files);
  }

  /** A tokenizer from in-memory tokenizer.json / tokenizer_config.json objects. */
  static fromJson(tokenizerJson: object, tokenizerConfig: object): Tokenizer {
    const hf = new PreTrainedTokenizer(tokenizerJson, tokenizerConfig);
    const files = new Map<string, Buffer>([
      ['tokenizer.json', Buffer.from(JSON.stringify(tokenizerJson, null, 2), 'utf8')],
      ['tokenizer_config.json', Buffer.from(JSON.stringify(tokenizerConfig, null, 2), 'utf8')],
    ]);
    return new Tokenizer(hf, padId(hf), files);
  }

  private template: { prefix: number[]; suffix: number[]; prefixTypes: number[]; suffixTypes: number[] } | null = null;

  /**
   * The special tokens the post-processor puts around a single text ([CLS] ... [SEP],
   * <s> ... </s>), found once by encoding a probe with and without them.
   */
  private specials() {
    if (this.template) return this.template;
    const probe = 'a';
    const withSp = this.call(probe, true);
    const without = this.call(probe, false).input_ids;
    let at = -1;
    for (let i = 0; i + without.length <= withSp.input_ids.length && at < 0; i++) {
      if (without.every((id, j) => withSp.input_ids[i + j] === id)) at = i;
    }
    if (at < 0) throw new Error('internal: cannot locate the text inside the tokenizer template');
    const end = at + without.length;
    const types = withSp.token_type_ids ?? new Array(withSp.input_ids.length).fill(0);
    this.template = {
      prefix: withSp.input_ids.slice(0, at),
      suffix: withSp.input_ids.slice(end),
      prefixTypes: types.slice(0, at),
      suffixTypes: types.slice(end),
    };
    return this.template;
  }

  private call(text: string, special: boolean): { input_ids: number[]; token_type_ids?: number[] } {
    return this.hf(text, { add_special_tokens: special, return_tensor: false }) as unknown as { input_ids: number[]; token_type_ids?: number[] };
  }

  /**
   * Token ids of one text with special tokens, at most maxLength long. Like Python
   * tokenizers' truncation, the text is cut and the special tokens kept (transformers.js
   * would cut the closing [SEP] off).
   */
  ids(text: string, maxLength: number): { ids: number[]; types: number[] } {
    const t = this.specials();
    const room = Math.max(0, maxLength - t.prefix.length - t.suffix.length);
    const content = this.call(text, false).input_ids.slice(0, room);
    return {
      ids: [...t.prefix, ...content, ...t.suffix],
      types: [...t.prefixTypes, ...new Array(content.length).fill(0), ...t.suffixTypes],
    };
  }

  /** What masked-language-model training needs: the [MASK] id, the special ids, and each id's token string. */
  mlmVocabulary(): { maskId: number | null; specialIds: Set<number>; token: (id: number) => string } {
    const hf = this.hf as unknown as { mask_token_id?: number; all_special_ids?: number[]; _tokenizer: { id_to_token(id: number): string | undefined } };
    return {
      maskId: typeof hf.mask_token_id === 'number' ? hf.mask_token_id : null,
      specialIds: new Set(hf.all_special_ids ?? []),
      token: (id) => hf._tokenizer.id_to_token(id) ?? '',
    };
  }

  encode(texts: string[], maxLength: number): TokenBatch {
    const rows = texts.map((t) => this.ids(t, maxLength));
    const T = Math.max(1, ...rows.map((r) => r.ids.length));
    const B = texts.length;
    const inputIds = new Int32Array(B * T).fill(this.padTokenId);
    const attentionMask = new Int32Array(B * T);
    const tokenTypeIds = new Int32Array(B * T);
    rows.forEach((r, b) => {
      for (let t = 0; t < r.ids.length; t++) {
        inputIds[b * T + t] = r.ids[t];
        attentionMask[b * T + t] = 1;
        tokenTypeIds[b * T + t] = r.types[t];
      }
    });
    return { inputIds, attentionMask, tokenTypeIds, batchSize: B, seqLen: T };
  }
}

function padId(hf: HfTokenizer): number {
  const id = (hf as unknown as { pad_token_id?: number }).pad_token_id;
  return typeof id === 'number' ? id : 0;
}

/**
 * A byte-level tokenizer in Hugging Face tokenizers' format, for the built-in models: every
 * UTF-8 byte is one token (GPT-2's ByteLevel byte-to-unicode map, a BPE with no merges),
 * NFKC + lowercase first, [CLS] text [SEP] around it. Python's `tokenizers` and
 * transformers.js both load it, so a saved built-in model works in sentence-transformers.
 */
export const BYTE_SPECIALS = ['[PAD]', '[CLS]', '[SEP]', '[UNK]', '[MASK]'] as const;
export const BYTE_VOCAB_SIZE = BYTE_SPECIALS.length + 256;

export function byteLevelTokenizerJson(): { tokenizer: object; config: object } {
  const vocab: Record<string, number> = {};
  BYTE_SPECIALS.forEach((s, i) => (vocab[s] = i));
  byteUnicodeChars().forEach((ch, b) => (vocab[ch] = BYTE_SPECIALS.length + b));
  const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BYTE_SPECIALS.map((s, i) => special(s, i)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [1], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [2], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '[UNK]',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    pad_token: '[PAD]',
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    model_max_length: 512,
    clean_up_tokenization_spaces: false,
  };
  return { tokenizer, config };
}

/** GPT-2's reversible map from the 256 byte values to printable unicode characters. */
function byteUnicodeChars(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const chars = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return chars;
}
