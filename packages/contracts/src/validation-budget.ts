// How much of an epoch validation may take: the default voxel budget derived from the epoch's own
// training work, and which epochs validate. Shared by the engine (which applies it) and the API and
// benchmarks (which report it), so every side computes the same budget from a spec.
import type { ExperimentSpec } from './spec.ts';
import { TTA_PASSES } from './cost.ts';

/**
 * Cost of predicting a validation voxel relative to training on one, measured (bench
 * validation-budget, onednn, tile 128, 2 cores): 8.7 us against 9.6 us. Not the textbook third (a
 * forward pass of a forward + backward step): a crop plane is one tile, so every forward pass is a
 * batch of one, and per-pass overheads weigh what training's batches of four spread.
 */
export const PREDICTED_VOXEL_COST = 0.9;

/**
 * k: default validation voxels per voxel an epoch trains on. Validation then takes about
 * (0.2 x 0.9) / (1 + 0.2 x 0.9) = 15 % of an epoch, under the 1/5 ceiling with room for what
 * validation does besides the network (reading crops, scoring). k = 0.5, chosen from the textbook
 * third, measured 31 %.
 */
export const DEFAULT_VALIDATION_VOXELS_PER_TRAINING_VOXEL = 0.2;

/**
 * Under the default budget, validation sets up to this many voxels (about 160³) are validated
 * whole, as before budgets existed: their whole-volume score costs seconds, and crops of a volume
 * that small would hold too few vessels to score steadily. A set above it is cropped to the budget.
 */
export const WHOLE_VALIDATION_FLOOR = 2 ** 22;

export type ValidationBudgetFields = Pick<ExperimentSpec, 'stepsPerEpoch' | 'batchSize' | 'tileSize' | 'validation' | 'predict'>;

/** Output voxels one epoch trains on: steps x batch x tile². */
export function epochTrainingVoxels(spec: Pick<ExperimentSpec, 'stepsPerEpoch' | 'batchSize' | 'tileSize'>): number {
  return spec.stepsPerEpoch * spec.batchSize * spec.tileSize * spec.tileSize;
}

/**
 * The default `validation.maxVoxels`: k x the epoch's training voxels, divided by the flip TTA
 * passes when validation predicts with them (each voxel then costs four forward passes).
 */
export function defaultValidationVoxels(spec: ValidationBudgetFields): number {
  const passes = spec.predict?.tta ? TTA_PASSES : 1;
  return Math.floor((DEFAULT_VALIDATION_VOXELS_PER_TRAINING_VOXEL * epochTrainingVoxels(spec)) / passes);
}

/** The budget a run validates under. */
export interface ResolvedValidationBudget {
  /** Most voxels validated per epoch when the validation set is cropped (halo planes included). */
  maxVoxels: number;
  /** Validation sets of at most this many voxels are validated whole. */
  wholeUpTo: number;
  /** Validate every N epochs. */
  every: number;
}

/**
 * The spec's budget with its defaults: a `maxVoxels` the spec sets is exact (whole volumes only
 * when they fit in it); the default one validates sets up to {@link WHOLE_VALIDATION_FLOOR} whole.
 */
export function validationBudgetOf(spec: ValidationBudgetFields): ResolvedValidationBudget {
  const every = spec.validation?.every ?? 1;
  const set = spec.validation?.maxVoxels;
  if (set !== undefined) return { maxVoxels: set, wholeUpTo: set, every };
  const maxVoxels = defaultValidationVoxels(spec);
  return { maxVoxels, wholeUpTo: Math.max(maxVoxels, WHOLE_VALIDATION_FLOOR), every };
}

/**
 * Whether `epoch` validates: every `every`-th epoch, and always the last one the run (or this ASHA
 * leg) trains, so the run ends with a score and a rung is decided on a fresh one.
 */
export function validatesEpoch(every: number, epoch: number, lastEpoch: number): boolean {
  return epoch % every === 0 || epoch === lastEpoch;
}
