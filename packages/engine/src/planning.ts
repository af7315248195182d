/**
 * @capillary/engine/planning: how a prediction is cut into shards and tiles, without loading tfjs
 * (the worker's parent process plans; its sandbox predicts).
 */
export { planShards, planeShape, predictionCost, ShardedAxisSource, type ShardPlanes } from './shards.ts';
export { tileStarts, blendWeights } from './tiling.ts';
