// How much of an epoch validation may take: the default voxel budget derived from the epoch's own
// training work, and which epochs validate. Shared by the engine (which applies it) and the API and
// benchmarks (which report it), so every side computes the same budget from a spec.
import type { ExperimentSpec } from './spec.ts';
import { TTA_PASSES } from './cost.ts';

/**
 * Cost of predicting a voxel relative to training on it: a training step is a forward pass, a
 * backward pass through the activations and one through the weights, about three forward passes.
 */
export const FORWARD_SHARE_OF_TRAINING = 1 / 3;

/**
 * k: default validation voxels per voxel an epoch trains on. With a forward pass a third of a
 * training step, k = 0.5 makes validation about (0.5 / 3) / (1 + 0.5 / 3) = 1/7 of an epoch's
 * network time, which leaves room under the 1/5 ceiling for what validation does besides the
 * network (reading crops, normalising, streaming the surface Dice).
 */
export const DEFAULT_VALIDATION_VOXELS_PER_TRAINING_VOXEL = 0.5;

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
