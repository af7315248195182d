// The seeded synthetic-kidney task that bench asha, tpe and pbt compare their searches on: two
// training kidneys and one validation kidney, small enough for a busy 2-core machine, the same
// small U-Net, and the grid and the space the searches cover.
import type { EpochReport } from '@capillary/engine';
import { generateSyntheticVolume } from '@capillary/volumes';

const shape: [number, number, number] = [12, 64, 64];
export const trainVolumes = [generateSyntheticVolume({ shape, seed: 101, id: 'train-a' }), generateSyntheticVolume({ shape, seed: 102, id: 'train-b' })];
export const validation = [generateSyntheticVolume({ shape: [8, 64, 64], seed: 103, id: 'val' })];

/** Every trial's fixed fields; `dataset` only names the bench in the spec. */
export const taskSpec = (dataset: string, epochs: number, stepsPerEpoch: number) =>
  ({ dataset, model: 'unet' as const, epochs, tileSize: 32, batchSize: 4, stepsPerEpoch, baseFilters: 4, depth: 2, seed: 5 });

/** The grid: learning rate matters most here; augmentation mostly slows the start. */
export const LRS = [2e-3, 3.5e-3, 6e-3, 1e-2, 1.6e-2, 2.5e-2, 4e-2, 6e-2];
export const AUG = [0, 0.5];
/** The same ranges as a search space. */
export const TASK_SPACE = { lr: { loguniform: [2e-3, 6e-2] }, augmentationP: { uniform: [0, 0.5] } };

/** An epoch's score: its validation surface Dice, else Dice. */
export const scoreOf = (r: EpochReport) => r.surfaceDice ?? r.dice ?? 0;
/** A run's score: the best of its epochs. */
export const best = (rs: EpochReport[]) => Math.max(...rs.map(scoreOf));
