/**
 * AnglELoss (angle-optimised): CoSENT's ranking of pair similarities, with the cosine replaced
 * by the normalised angle difference of the embeddings read as complex vectors
 * (`pairwiseAngle`, src/similarity). The cosine's gradient vanishes near its extremes
 * (cos ≈ ±1); the angle in complex space keeps a signal there.
 *
 *     s_i = scale * angle_sim(u_i, v_i)
 *     loss = log(1 + Σ_{(i, j): y_i < y_j} exp(s_i - s_j))
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | sentence 1 |
 * | 1 | sentence 2 |
 * | label | similarity score (any scale; only the ordering is used) |
 *
 * This is cosent.ts with another similarity function (`createPairRankingLoss`), not a copy.
 * Default scale 20, as sentence-transformers `AnglELoss`. The paper's full objective adds
 * cosine and in-batch terms to this one; like sentence-transformers, this is the angle term.
 *
 * Reference: Li & Li 2024, "AoE: Angle-optimized Embeddings for Semantic Textual Similarity",
 * https://aclanthology.org/2024.acl-long.101/ (arXiv 2309.12871); sentence-transformers
 * `losses/AnglELoss.py`
 * (https://github.com/UKPLab/sentence-transformers/blob/master/sentence_transformers/losses/AnglELoss.py).
 *
 * Example: u = [1, 0], v = [1, 1] -> angle_sim = |1*1 + 0*1 + 0*1 - 1*1| / (1 * √2) = 0;
 * u = [1, 0], v = [1, 0] -> 1. Pairs (u, [1, 1]) labelled 1 and (u, [1, 0]) labelled 0, scale
 * 20: the lower-labelled pair scores 20 above the other, loss = log(1 + e^20) ≈ 20.0.
 */
import { pairwiseAngle } from '../similarity/index.js';
import { createPairRankingLoss } from './cosent.js';
import type { Loss } from './types.js';

export function createAnglELoss(params: Record<string, unknown> = {}): Loss {
  return createPairRankingLoss('angle', pairwiseAngle, params);
}
