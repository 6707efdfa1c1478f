/**
 * Loss registry: the names a recipe's `loss.name` may use, each mapped to its factory.
 * Every loss follows sentence-transformers' definition and defaults (see each file).
 */
import { ConfigError } from '../errors.js';
import { createAnglELoss } from './angle.js';
import { createAngularMseLoss } from './angular-mse.js';
import { createContrastiveLoss } from './contrastive.js';
import { createCoSENTLoss } from './cosent.js';
import { createCosineMseLoss } from './cosine-mse.js';
import { createMultipleNegativesRankingLoss } from './multiple-negatives-ranking.js';
import { createMultipleNegativesSymmetricRankingLoss } from './multiple-negatives-symmetric-ranking.js';
import { createOnlineContrastiveLoss } from './online-contrastive.js';
import { createTripletLoss } from './triplet.js';
import type { Loss } from './types.js';

export type { Loss, LabelRange } from './types.js';
export { labelFits, describeLabelRange } from './types.js';
export { createSimilarityMseLoss } from './cosine-mse.js';
export { createMatryoshkaLoss, checkMatryoshkaDims, type MatryoshkaOptions } from './matryoshka.js';

const FACTORIES: Record<string, (params?: Record<string, unknown>) => Loss> = {
  cosine_mse: createCosineMseLoss,
  angular_mse: createAngularMseLoss,
  contrastive: createContrastiveLoss,
  online_contrastive: createOnlineContrastiveLoss,
  multiple_negatives_ranking: createMultipleNegativesRankingLoss,
  cosent: createCoSENTLoss,
  triplet: createTripletLoss,
  multiple_negatives_symmetric_ranking: createMultipleNegativesSymmetricRankingLoss,
  angle: createAnglELoss,
};

export const LOSS_NAMES: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/** Build a loss by name; unknown names and parameters raise a ConfigError listing the valid ones. */
export function createLoss(name: string, params: Record<string, unknown> = {}): Loss {
  const factory = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!factory) throw new ConfigError(`loss.name: unknown loss '${name}' (valid: ${LOSS_NAMES.join(', ')})`);
  return factory(params);
}
