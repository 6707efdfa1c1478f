/**
 * Training: `train(recipe, opts)` runs a recipe end to end (the CLI `sbert-train recipe.yaml`
 * is a thin wrapper), plus the parts it is built from for tests and other tools.
 *
 *   const recipe = loadRecipe('recipes/quickstart.yaml');
 *   const r = await train(recipe, { onStep: (s) => console.log(s.step, s.loss) });
 */
export { train, type TrainOptions, type TrainResult, type StepInfo, type EvalInfo } from './trainer.js';
export { AdamOptimizer, type AdamOptions, type OptimizerState } from './optimizer.js';
export { makeSchedule, warmupFromRatio, type Schedule, type ScheduleName } from './schedule.js';
export { clipByGlobalNorm, clipPerVariable, globalNorm } from './clip.js';
export { saveCheckpoint, loadCheckpoint, latestCheckpoint, listCheckpoints, verifyCheckpoint, checkpointName } from './checkpoint.js';
export { TensorBoardWriter, readEventFile, eventFiles, encodeEvent, decodeEvent, type TfEvent, type ScalarValue } from './tensorboard.js';
export { crc32c, maskedCrc32c, frameRecord, parseRecords } from './tfrecord.js';
export { modelCard, type CardInput } from './model-card.js';
