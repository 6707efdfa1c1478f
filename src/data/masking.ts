/**
 * BERT masking for masked-language-model training, as transformers'
 * DataCollatorForLanguageModeling (and DataCollatorForWholeWordMask with `wholeWord`):
 *
 *   1. choose the positions to predict among the real tokens (not padding, not special):
 *      each with probability p (default 0.15); with whole-word masking, whole words in a
 *      seeded random order until round(p x tokens) tokens are covered (at least one);
 *   2. of the chosen: 80% become [MASK], 10% a random vocabulary id, 10% stay as they are.
 *
 * A batch always predicts at least one position (one is drawn when chance chose none), so the
 * loss is defined. Words are WordPiece runs (a token and the `##` pieces after it), or for
 * byte-level / SentencePiece vocabularies runs that begin at a `Ġ` / `▁` token or after a
 * special token.
 */
import type { TokenBatch } from '../models/types.js';

export interface MaskingOptions {
  /** Fraction of tokens to predict (0.15). */
  probability: number;
  wholeWord: boolean;
  maskId: number;
  vocabSize: number;
  specialIds: ReadonlySet<number>;
  /** Whether a token id begins a word (whole-word masking). */
  startsWord: (id: number) => boolean;
  /** Uniform [0, 1) random source (seeded by the caller). */
  rng: () => number;
}

export interface MaskedBatch {
  /** The batch's input ids with the chosen positions replaced (a copy). */
  inputIds: Int32Array;
  /** Flat indices b x seqLen + t of the positions to predict, ascending. */
  positions: Int32Array;
  /** The original token id at each position. */
  labels: Int32Array;
}

export function maskTokens(batch: TokenBatch, o: MaskingOptions): MaskedBatch {
  const { batchSize: B, seqLen: T, inputIds, attentionMask } = batch;
  const chosen: number[] = [];
  const candidates: number[] = [];
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (attentionMask[i] === 1 && !o.specialIds.has(inputIds[i])) row.push(i);
    }
    candidates.push(...row);
    if (o.wholeWord) chosen.push(...chooseWords(row, inputIds, o));
    else for (const i of row) if (o.rng() < o.probability) chosen.push(i);
  }
  if (chosen.length === 0 && candidates.length > 0) chosen.push(candidates[Math.floor(o.rng() * candidates.length)]);
  chosen.sort((a, b) => a - b);
  const ids = new Int32Array(inputIds);
  const labels = new Int32Array(chosen.length);
  chosen.forEach((i, k) => {
    labels[k] = inputIds[i];
    const r = o.rng();
    if (r < 0.8) ids[i] = o.maskId;
    else if (r < 0.9) ids[i] = Math.floor(o.rng() * o.vocabSize);
  });
  return { inputIds: ids, positions: Int32Array.from(chosen), labels };
}

/** Whole words of one sequence, shuffled, taken while they fit in round(p x tokens). */
function chooseWords(row: number[], ids: Int32Array, o: MaskingOptions): number[] {
  const words: number[][] = [];
  for (let k = 0; k < row.length; k++) {
    const i = row[k];
    const afterGap = k === 0 || row[k - 1] !== i - 1; // a special token (or the row start) came before
    if (afterGap || o.startsWord(ids[i]) || words.length === 0) words.push([i]);
    else words[words.length - 1].push(i);
  }
  const target = Math.max(1, Math.round(row.length * o.probability));
  for (let k = words.length - 1; k > 0; k--) {
    const j = Math.floor(o.rng() * (k + 1));
    [words[k], words[j]] = [words[j], words[k]];
  }
  const out: number[] = [];
  for (const w of words) {
    if (out.length >= target) break;
    if (out.length + w.length > target) continue;
    out.push(...w);
  }
  return out;
}

/**
 * A `startsWord` for a tokenizer's vocabulary: WordPiece (`##` marks a continuation) when
 * `wordPiece`, else a token starting with `Ġ` (byte-level BPE) or `▁` (SentencePiece) begins a
 * word.
 */
export function wordStarts(token: (id: number) => string, wordPiece: boolean): (id: number) => boolean {
  return wordPiece ? (id) => !token(id).startsWith('##') : (id) => /^[Ġ▁]/.test(token(id));
}
