/**
 * Validation after an epoch: streamed inference over each volume, or over the run's fixed crops of
 * them when the volumes exceed the validation budget, scored slice by slice, with flip TTA when the
 * run will predict with it, so the best epoch is the best at how the run predicts.
 */
import { validationBudgetOf, type ExperimentSpec, type ValidationScope } from '@capillary/contracts';
import { SurfaceDiceStream } from '@capillary/metric';
import { chooseValidationCrops, type ValidationCrop, CroppedVolume, clipToFieldOfView, type VolumeReader } from '@capillary/volumes';
import { predictVolume, type Predictor } from './predict.ts';

export interface ValidationScores {
  /** Mean voxel BCE of the predicted probabilities over all scored labelled voxels. */
  loss: number | null;
  /** Mean over volumes (or crops) of voxel Dice. */
  dice: number | null;
  /** Mean over volumes (or crops) of 3D surface Dice at tolerance 0. */
  surfaceDice: number | null;
  /** Whole volumes, or the crops given. */
  scope: ValidationScope;
  /** Crops scored (0 for whole volumes). */
  crops: number;
  /** Voxels the network predicted: every forward pass's tile voxels (TTA passes included). */
  voxelsPredicted: number;
}

/** How a run validates: its crops, chosen once, or null for whole volumes. */
export interface ValidationPlan {
  crops: ValidationCrop[] | null;
  /** Validate every N epochs (the last always). */
  every: number;
}

/**
 * The run's validation plan from its spec's budget: crops when the labelled validation volumes
 * exceed it, drawn from the spec's seed, so every epoch and every resumed attempt uses the same.
 */
export async function planValidation(spec: ExperimentSpec, volumes: readonly VolumeReader[]): Promise<ValidationPlan> {
  const budget = validationBudgetOf(spec);
  const total = volumes.filter((v) => v.hasLabels).reduce((s, v) => s + v.shape[0] * v.shape[1] * v.shape[2], 0);
  if (total <= budget.wholeUpTo) return { crops: null, every: budget.every };
  const crops = await chooseValidationCrops(volumes, { maxVoxels: budget.maxVoxels, tileSize: spec.tileSize, slices: spec.slices, seed: spec.seed });
  return { crops, every: budget.every };
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** The predictor, counting the voxels of every forward pass: the deterministic measure of validation's cost. */
function counting(model: Predictor): { model: Predictor; voxels: () => number } {
  let n = 0;
  const wrapped: Predictor = {
    get stride() { return model.stride; },
    get inChannels() { return model.inChannels; },
    get outChannels() { return model.outChannels; },
    predict: (x) => {
      n += x.shape[0] * x.shape[1] * x.shape[2];
      return model.predict(x);
    },
  };
  return { model: wrapped, voxels: () => n };
}

type ValidateOptions = { slices: number; tileSize: number; threshold: number; tta?: boolean; signal?: AbortSignal };

/**
 * Scores the volumes whole or, given `crops`, the crops: BCE over all scored voxels, Dice and
 * surface Dice as means over volumes or over crops (each crop its own small volume: vessels cut by
 * its faces end there, in the truth and the prediction alike). A crop's halo planes are predicted
 * as neighbours of its first and last scored planes, never scored themselves.
 */
export async function validate(
  model: Predictor,
  volumes: VolumeReader[],
  o: ValidateOptions & { crops?: ValidationCrop[] | null },
): Promise<ValidationScores> {
  const counted = counting(model);
  const units = o.crops
    ? o.crops.map((c) => ({ reader: new CroppedVolume(volumes[c.volume], c.box) as VolumeReader, first: c.haloBefore, end: c.box.z1 - c.box.z0 - c.haloAfter }))
    : volumes.filter((v) => v.hasLabels).map((v) => ({ reader: v, first: 0, end: v.shape[0] }));
  const acc = { bce: 0, voxels: 0 };
  const dices: number[] = [];
  const surface: number[] = [];
  for (const u of units) {
    const r = await scoreUnit(counted.model, u.reader, u.first, u.end, o, acc);
    if (r.dice !== null) dices.push(r.dice);
    if (r.surfaceDice !== null) surface.push(r.surfaceDice);
  }
  return {
    loss: acc.voxels ? acc.bce / acc.voxels : null,
    dice: mean(dices),
    surfaceDice: mean(surface),
    scope: o.crops ? 'crops' : 'whole',
    crops: o.crops?.length ?? 0,
    voxelsPredicted: counted.voxels(),
  };
}

/** Predicts one volume (or crop) and scores its z planes [first, end), adding to the BCE sums. */
async function scoreUnit(model: Predictor, v: VolumeReader, first: number, end: number, o: ValidateOptions, acc: { bce: number; voxels: number }) {
  const [, Y, X] = v.shape;
  const stream = new SurfaceDiceStream(Y, X);
  await predictVolume(model, v, {
    axes: ['xy'],
    slices: o.slices,
    tileSize: o.tileSize,
    overlap: 0.25,
    tta: o.tta ?? false,
    threshold: o.threshold,
    signal: o.signal,
    onSlice: async (z, mask, prob) => {
      if (z < first || z >= end) return;
      const truth = await v.readLabel('z', z, 1);
      // Volumes with a field-of-view mask (e.g. retinal images) are scored inside it only.
      const inside = await clipToFieldOfView(v, z, truth, mask);
      for (let i = 0; i < truth.length; i++) {
        if (inside && !inside[i]) continue;
        const p = Math.min(1 - 1e-7, Math.max(1e-7, prob![i]));
        acc.bce -= truth[i] ? Math.log(p) : Math.log(1 - p);
        acc.voxels++;
      }
      stream.push(truth, mask);
    },
  });
  return stream.result();
}
