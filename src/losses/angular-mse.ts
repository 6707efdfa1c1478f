/**
 * Angular-similarity MSE: CosineSimilarityLoss with the angular similarity
 * 1 - arccos(cos(u, v)) / π in place of the cosine.
 *
 *     loss = 1/n * Σ_i (1 - arccos(cos(u_i, v_i))/π - y_i)²
 *
 * | column | holds |
 * | --- | --- |
 * | 0 | sentence 1 |
 * | 1 | sentence 2 |
 * | label | similarity score in [0, 1] |
 *
 * Why: the angular similarity is linear in the angle, so it stays sensitive near cos ≈ 1
 * where the cosine flattens out; Cer et al. found it trains STS regressors better
 * (Universal Sentence Encoder, https://arxiv.org/abs/1803.11175, section 5). This is the
 * cosine loss with the similarity function injected (cosine-mse.ts).
 *
 * Example: u = [1, 0], v = [0, 1] (90°, angular 0.5), label 1  ->  loss 0.25.
 */
import { pairwiseAngular } from '../similarity/index.js';
import { createSimilarityMseLoss } from './cosine-mse.js';
import type { Loss } from './types.js';

export function createAngularMseLoss(params: Record<string, unknown> = {}): Loss {
  return createSimilarityMseLoss('angular_mse', pairwiseAngular, { kind: 'interval', min: 0, max: 1 }, params);
}
