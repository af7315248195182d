/**
 * Validation after an epoch: full streamed inference over each volume, scored slice by slice, with
 * flip TTA when the run will predict with it, so the best epoch is the best at how the run predicts.
 */
import { SurfaceDiceStream } from '@capillary/metric/surface-dice-stream';
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

/** A reader that also has a field-of-view mask (ZarrVolume). */
interface MaskedReader {
  hasMask: boolean;
  readMask(axis: 'z', start: number, count: number): Promise<Uint8Array>;
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
    // Volumes with a field-of-view mask (e.g. retinal images) are scored inside it only.
    const fov = (v as Partial<MaskedReader>).hasMask ? (v as unknown as MaskedReader) : null;
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
        const inside = fov ? await fov.readMask('z', z, 1) : null;
        for (let i = 0; i < truth.length; i++) {
          if (inside && !inside[i]) {
            truth[i] = 0;
            mask[i] = 0;
            continue;
          }
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
