/**
 * @capillary/engine: trains and runs the segmentation networks on tfjs backends.
 */
export { selectBackend, backendThreads, BackendUnavailableError, type BackendPreference } from './backend.ts';
export { train, loadModelFromCheckpoint, type TrainOptions, type TrainResult, type TrainProgress } from './train.ts';
// The epoch report crosses the sandbox's IPC, so its shape lives in contracts; engine callers keep this name.
export type { EpochReport } from '@capillary/contracts';
export { onednnUnavailableReason } from './onednn/addon.ts';
export { tilesPerPass } from './predict.ts';
export { predictVolume, predictPlane, type PredictOptions, type PredictSummary, type PlaneAxis, type Predictor } from './predict.ts';
export { removeSmallComponents, type ComponentFilter } from './components.ts';
export { SegmentationModel, modelConfigFromSpec, type ModelConfig, type ModelName } from './models/unet.ts';
export { decodeCheckpoint, CheckpointError, CHECKPOINT_MAGIC, type CheckpointHeader } from './checkpoint.ts';
export { AbortError, SpecError } from './errors.ts';
export { segmentationLoss, lossWeights, NAMED_LOSSES, type LossName, type LossSpec, type LossWeights } from './loss.ts';
export { softSurfaceDice, type SoftSurfaceDiceOptions } from './surface-dice-loss.ts';
export { learningRateAt } from './optimizer.ts';
export { trainStep } from './step.ts';
export { Adam } from './optimizer.ts';
export { finishVolume, predictPlaneRange, predictionGrid, type PlaneRange, type FinishOptions, type AxisSources } from './predict.ts';
export { planShards, planeShape, predictionCost, ShardedAxisSource, type ShardPlanes } from './shards.ts';
export { PROBABILITY_LEVELS, type AxisSource } from './axis-sources.ts';
