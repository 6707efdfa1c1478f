/**
 * Pooling of token embeddings into one sentence embedding, as sentence-transformers'
 * models/Pooling.py: cls, max, mean, mean_sqrt_len, weightedmean, lasttoken; several modes
 * are concatenated in that order.
 * https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/models/Pooling.py
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from '../errors.js';

export const POOLING_MODES = ['cls', 'max', 'mean', 'mean_sqrt_len', 'weightedmean', 'lasttoken'] as const;
export type PoolingMode = (typeof POOLING_MODES)[number];

/** The 1_Pooling/config.json flag of each mode. */
export const CONFIG_KEYS: Record<PoolingMode, string> = {
  cls: 'pooling_mode_cls_token',
  max: 'pooling_mode_max_tokens',
  mean: 'pooling_mode_mean_tokens',
  mean_sqrt_len: 'pooling_mode_mean_sqrt_len_tokens',
  weightedmean: 'pooling_mode_weightedmean_tokens',
  lasttoken: 'pooling_mode_lasttoken',
};

export function checkPoolingMode(mode: string, where: string): PoolingMode {
  if (!(POOLING_MODES as readonly string[]).includes(mode)) {
    throw new ModelError(`${where}: unknown pooling mode '${mode}'; valid modes are ${POOLING_MODES.join(', ')}`);
  }
  return mode as PoolingMode;
}

/**
 * Names `pooling_mode` may hold: ours, and sentence-transformers' own spellings (its
 * POOLING_MODES say "mean_sqrt_len_tokens"; the boolean keys' stems, such as "cls_token" or
 * "mean_tokens", are taken too). Case-insensitive, as Pooling.__init__ lowercases it.
 */
function modeFromName(name: string, file: string): PoolingMode {
  const n = name.trim().toLowerCase().replace(/^pooling_mode_/, '');
  const stem = n === 'mean_sqrt_len_tokens' ? 'mean_sqrt_len' : n.replace(/_tokens?$/, '');
  if ((POOLING_MODES as readonly string[]).includes(stem)) return stem as PoolingMode;
  throw new ModelError(`${file}: unknown pooling mode '${name}'; valid modes are ${POOLING_MODES.join(', ')} (sentence-transformers also writes mean_sqrt_len_tokens)`);
}

/**
 * Modes from a 1_Pooling/config.json object, in every form sentence-transformers 3-6 writes:
 * - the boolean flags `pooling_mode_cls_token`, `pooling_mode_max_tokens`, ... (3-5), pooled and
 *   concatenated in Pooling.py's fixed order (cls, max, mean, mean_sqrt_len, weightedmean,
 *   lasttoken);
 * - `pooling_mode`: one name ("mean", "mean_sqrt_len_tokens"; "cls+mean" as
 *   get_pooling_mode_str() prints several), or a list of names (6: `["cls", "mean"]`),
 *   concatenated in the order given. When present it overrides the flags, as in Pooling.py.
 * `include_prompt` must be a boolean when present; the loader keeps it, and encoding with a
 * prompt refuses `false` (pooling without the prompt's tokens is not implemented).
 */
export function poolingModesFromConfig(raw: Record<string, unknown>, file: string): PoolingMode[] {
  if (raw.include_prompt !== undefined && raw.include_prompt !== null && typeof raw.include_prompt !== 'boolean') {
    throw new ModelError(`${file}: include_prompt must be true or false, got ${JSON.stringify(raw.include_prompt)}`);
  }
  const pm = raw.pooling_mode;
  if (pm !== undefined && pm !== null) {
    const names = typeof pm === 'string' ? pm.split('+') : Array.isArray(pm) && pm.every((x) => typeof x === 'string') ? (pm as string[]) : null;
    if (!names) throw new ModelError(`${file}: pooling_mode must be a mode name or a list of names, got ${JSON.stringify(pm)}`);
    const modes = names.map((n) => modeFromName(n, file));
    if (modes.length === 0) throw new ModelError(`${file}: pooling_mode is an empty list`);
    const twice = modes.find((m, i) => modes.indexOf(m) !== i);
    if (twice) throw new ModelError(`${file}: pooling_mode names '${twice}' twice`);
    return modes;
  }
  const modes = POOLING_MODES.filter((m) => raw[CONFIG_KEYS[m]] === true);
  if (modes.length === 0) throw new ModelError(`${file}: no pooling mode is enabled`);
  return modes;
}

/** `includePrompt`: false only when the model was loaded so (kept, so a saved model pools as it did in sentence-transformers). */
export function poolingConfig(modes: PoolingMode[], dim: number, includePrompt = true): Record<string, unknown> {
  const cfg: Record<string, unknown> = { word_embedding_dimension: dim };
  for (const m of POOLING_MODES) cfg[CONFIG_KEYS[m]] = modes.includes(m);
  cfg.include_prompt = includePrompt;
  // The flags say which modes, not their order: a list in another order (read from a
  // sentence-transformers 6 config) is written as that list too, so it loads back the same.
  const canonical = POOLING_MODES.filter((m) => modes.includes(m));
  if (canonical.some((m, i) => m !== modes[i])) cfg.pooling_mode = modes.map((m) => (m === 'mean_sqrt_len' ? 'mean_sqrt_len_tokens' : m));
  return cfg;
}

/**
 * tokens [B, T, H], mask [B, T] (1 = real token) -> [B, H * modes.length].
 */
export function pool(tokens: tf.Tensor3D, mask: tf.Tensor2D, modes: PoolingMode[]): tf.Tensor2D {
  return tf.tidy(() => {
    const [, T] = tokens.shape;
    const m = tf.expandDims(tf.cast(mask, 'float32'), -1); // [B, T, 1]
    const parts: tf.Tensor[] = [];
    let sum: tf.Tensor | null = null;
    let count: tf.Tensor | null = null;
    const sums = () => {
      sum ??= tf.sum(tf.mul(tokens, m), 1); // [B, H]
      count ??= tf.maximum(tf.sum(m, 1), 1e-9); // [B, 1]
      return { sum: sum as tf.Tensor, count: count as tf.Tensor };
    };
    for (const mode of modes) {
      if (mode === 'cls') {
        parts.push(tf.squeeze(tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), [1]));
      } else if (mode === 'max') {
        // Padded positions are set to -1e9 so they never win the max, as Pooling.py does.
        parts.push(tf.max(tf.add(tf.mul(tokens, m), tf.mul(tf.sub(1, m), -1e9)), 1));
      } else if (mode === 'mean') {
        const s = sums();
        parts.push(tf.div(s.sum, s.count));
      } else if (mode === 'mean_sqrt_len') {
        const s = sums();
        parts.push(tf.div(s.sum, tf.sqrt(s.count)));
      } else if (mode === 'weightedmean') {
        const w = tf.mul(tf.reshape(tf.range(1, T + 1, 1, 'float32'), [1, T, 1]), m); // [B, T, 1]
        parts.push(tf.div(tf.sum(tf.mul(tokens, w), 1), tf.maximum(tf.sum(w, 1), 1e-9)));
      } else {
        // lasttoken: the last attended position of each row (right padding).
        const last = tf.sub(tf.sum(tf.cast(mask, 'int32'), 1), tf.scalar(1, 'int32')); // [B]
        const oneHot = tf.expandDims(tf.oneHot(tf.maximum(last, tf.scalar(0, 'int32')), T), -1); // [B, T, 1]
        parts.push(tf.sum(tf.mul(tokens, tf.cast(oneHot, 'float32')), 1));
      }
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, -1)) as tf.Tensor2D;
  });
}
