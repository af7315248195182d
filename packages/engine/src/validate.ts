/**
 * Validation after an epoch: full streamed inference over each volume, scored slice by slice, with
 * flip TTA when the run will predict with it, so the best epoch is the best at how the run predicts.
 */
import { SurfaceDiceStream } from '@capillary/metric/surface-dice-stream';
import { clipToFieldOfView } from '@capillary/volumes/field-of-view';
import type { VolumeReader } from '@capillary/volumes/types';
import { predictVolume, type Predictor } from './predict.ts';

export interface ValidationScores {
  /** Mean voxel BCE of the predicted probabilities over all labelled voxels. */
  loss: number | null;
  /** Mean over volumes of voxel Dice. */
  dice: number | null;
  /** Mean over volumes of 3D surface Dice at tolerance 0. */
  surfaceDice: number | null;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export async function validate(
  model: Predictor,
  volumes: VolumeReader[],
  o: { slices: number; tileSize: number; threshold: number; tta?: boolean; signal?: AbortSignal },
): Promise<ValidationScores> {
  let bce = 0;
  let voxels = 0;
  const dices: number[] = [];
  const surface: number[] = [];
  for (const v of volumes) {
    if (!v.hasLabels) continue;
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
        const truth = await v.readLabel('z', z, 1);
        // Volumes with a field-of-view mask (e.g. retinal images) are scored inside it only.
        const inside = await clipToFieldOfView(v, z, truth, mask);
        for (let i = 0; i < truth.length; i++) {
          if (inside && !inside[i]) continue;
          const p = Math.min(1 - 1e-7, Math.max(1e-7, prob![i]));
          bce -= truth[i] ? Math.log(p) : Math.log(1 - p);
          voxels++;
        }
        stream.push(truth, mask);
      },
    });
    const r = stream.result();
    if (r.dice !== null) dices.push(r.dice);
    if (r.surfaceDice !== null) surface.push(r.surfaceDice);
  }
  return { loss: voxels ? bce / voxels : null, dice: mean(dices), surfaceDice: mean(surface) };
}
