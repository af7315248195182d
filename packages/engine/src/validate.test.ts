import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { defaultValidationVoxels, epochTrainingVoxels, PREDICTED_VOXEL_COST } from '@capillary/contracts';
import { cropDepth, MemoryVolume, Rng } from '@capillary/volumes';
import { selectBackend } from './backend.ts';
import { predictVolume, type Predictor } from './predict.ts';
import { train, type EpochReport } from './train.ts';
import { planValidation, validate } from './validate.ts';
import { tubeSpec, tubeTrain } from './testing/training.ts';
import { tubeVolume } from './testing/tubes.ts';

/** Probability = the input one column to the left: a flip changes the answer, so TTA shows. */
const shifted: Predictor = {
  stride: 4,
  inChannels: 1,
  predict: (x) => tf.sigmoid(tf.pad(tf.slice(x, [0, 0, 0, 0], [x.shape[0], x.shape[1], x.shape[2] - 1, 1]), [[0, 0], [0, 0], [1, 0], [0, 0]])),
};

const shape: [number, number, number] = [3, 16, 16];
const r = Rng.of(9);
const n = shape[0] * shape[1] * shape[2];
const image = Uint16Array.from({ length: n }, () => Math.floor(r.float() * 1000));
const label = Uint8Array.from(image, (v) => (v > 500 ? 1 : 0));
const volume = new MemoryVolume('v', shape, image, label);

/** Mean voxel BCE of the probabilities predictVolume streams with these options. */
async function bceOf(tta: boolean): Promise<number> {
  let sum = 0;
  await predictVolume(shifted, volume, {
    axes: ['xy'], slices: 1, tileSize: 16, overlap: 0.25, tta, threshold: 0.5,
    onSlice: async (z, _mask, prob) => {
      const truth = await volume.readLabel('z', z, 1);
      for (let i = 0; i < truth.length; i++) {
        const p = Math.min(1 - 1e-7, Math.max(1e-7, prob![i]));
        sum -= truth[i] ? Math.log(p) : Math.log(1 - p);
      }
    },
  });
  return sum / n;
}

describe('validate', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  it('predicts with flip TTA when asked, so the best epoch is chosen the way the run predicts', async () => {
    const plain = await validate(shifted, [volume], { slices: 1, tileSize: 16, threshold: 0.5 });
    const tta = await validate(shifted, [volume], { slices: 1, tileSize: 16, threshold: 0.5, tta: true });
    expect(plain.loss).toBeCloseTo(await bceOf(false), 6);
    expect(tta.loss).toBeCloseTo(await bceOf(true), 6);
    expect(Math.abs(tta.loss! - plain.loss!)).toBeGreaterThan(1e-3);
  });
});

/**
 * Share of an epoch's time spent validating, from counted voxels: a predicted voxel costs
 * PREDICTED_VOXEL_COST of a trained one (deterministic, unlike wall time on a shared machine).
 */
const validationShare = (validationVoxels: number, trainingVoxels: number) => {
  const v = validationVoxels * PREDICTED_VOXEL_COST;
  return v / (v + trainingVoxels);
};

describe('validation within a budget', () => {
  // 48 x 96 x 96 (442k voxels): whole, it would cost most of an epoch of this spec.
  const big = tubeVolume('val-big', [48, 96, 96], 2, 40);

  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  it('one crop holding the whole volume scores exactly as the whole volume', async () => {
    const whole = await validate(shifted, [volume], { slices: 1, tileSize: 16, threshold: 0.5 });
    const crop = await validate(shifted, [volume], { slices: 1, tileSize: 16, threshold: 0.5, crops: [{ volume: 0, box: { z0: 0, z1: 3, y0: 0, y1: 16, x0: 0, x1: 16 }, haloBefore: 0, haloAfter: 0 }] });
    expect(whole).toMatchObject({ scope: 'whole', crops: 0 });
    expect(crop).toMatchObject({ scope: 'crops', crops: 1, loss: whole.loss, dice: whole.dice, surfaceDice: whole.surfaceDice, voxelsPredicted: whole.voxelsPredicted });
  });

  it('halo planes are predicted as neighbours but not scored', async () => {
    const v = new MemoryVolume('t', [5, 16, 16], Uint16Array.from({ length: 5 * 256 }, (_, i) => (i * 37) % 1000), Uint8Array.from({ length: 5 * 256 }, (_, i) => ((i * 37) % 1000 > 500 ? 1 : 0)));
    const identity: Predictor = { stride: 4, inChannels: 3, predict: (x) => tf.sigmoid(tf.slice(x, [0, 0, 0, 1], [x.shape[0], x.shape[1], x.shape[2], 1])) };
    const r = await validate(identity, [v], { slices: 3, tileSize: 16, threshold: 0.5, crops: [{ volume: 0, box: { z0: 1, z1: 5, y0: 0, y1: 16, x0: 0, x1: 16 }, haloBefore: 1, haloAfter: 1 }] });
    // Four planes predicted (halo included), two scored.
    expect(r.voxelsPredicted).toBe(4 * 256);
    let bce = 0;
    await predictVolume(identity, v, {
      axes: ['xy'], slices: 3, tileSize: 16, overlap: 0.25, tta: false, threshold: 0.5,
      onSlice: async (z, _m, prob) => {
        if (z < 2 || z > 3) return;
        const truth = await v.readLabel('z', z, 1);
        for (let i = 0; i < truth.length; i++) bce -= truth[i] ? Math.log(Math.max(1e-7, prob![i])) : Math.log(Math.max(1e-7, 1 - prob![i]));
      },
    });
    expect(r.loss).toBeCloseTo(bce / (2 * 256), 6);
  });

  it('an epoch past its budget validates on the same crops every epoch, within a fifth of its time', async () => {
    const base = tubeSpec({ epochs: 2, stepsPerEpoch: 30 });
    // The default budget's voxels, set explicitly: by default a volume this small is validated whole.
    const maxVoxels = defaultValidationVoxels(base);
    const spec = { ...base, validation: { maxVoxels } };
    expect((await planValidation(base, [big])).crops).toBeNull();
    const plan = await planValidation(spec, [big]);
    expect(plan.crops!.length).toBeGreaterThan(1);

    const reports: EpochReport[] = [];
    await train({ spec, train: [tubeTrain], validation: [big], onEpoch: async (r) => void reports.push(r) });
    const trained = epochTrainingVoxels(spec);
    const depth = cropDepth({ maxVoxels, tileSize: spec.tileSize, slices: spec.slices });
    for (const r of reports) {
      expect(r).toMatchObject({ validationScope: 'crops', validationCrops: plan.crops!.length });
      // One tile per crop plane, no overlap: exactly the crops' voxels, within the budget.
      expect(r.validationVoxels).toBe(plan.crops!.length * depth * spec.tileSize ** 2);
      expect(r.validationVoxels).toBeLessThanOrEqual(maxVoxels);
      expect(r.surfaceDice).not.toBeNull();
      expect(validationShare(r.validationVoxels!, trained)).toBeLessThanOrEqual(1 / 5);
      console.log(`crops: validation ${r.validationMs!.toFixed(0)} of ${r.durationMs.toFixed(0)} ms, voxel share ${validationShare(r.validationVoxels!, trained).toFixed(3)}`);
    }
    // The whole volume, predicted by any network of this spec, would cost far more than a fifth.
    const whole = await validate(tiny, [big], { slices: 1, tileSize: spec.tileSize, threshold: 0.5 });
    expect(validationShare(whole.voxelsPredicted, trained)).toBeGreaterThan(1 / 5);
  });

  it('validates every N epochs and always the last', async () => {
    const reports: EpochReport[] = [];
    await train({ spec: tubeSpec({ epochs: 3, stepsPerEpoch: 2, validation: { every: 2 } }), train: [tubeTrain], validation: [volumeFor32], onEpoch: async (r) => void reports.push(r) });
    expect(reports.map((r) => r.validationScope)).toEqual([null, 'whole', 'whole']);
    expect(reports[0]).toMatchObject({ valLoss: null, dice: null, surfaceDice: null, isBest: false, validationVoxels: 0 });
    expect(reports[1].surfaceDice).not.toBeNull();
  });
});

/** A predictor of stride 32 that only counts (for the whole-volume cost). */
const tiny: Predictor = { stride: 32, inChannels: 1, predict: (x) => tf.zerosLike(x) as tf.Tensor4D };
const volumeFor32 = tubeVolume('val', [12, 48, 48], 2, 8);
