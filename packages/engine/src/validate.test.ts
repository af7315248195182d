import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MemoryVolume } from '@capillary/volumes/memory';
import { Rng } from '@capillary/volumes/rng';
import { selectBackend } from './backend.ts';
import { predictVolume, type Predictor } from './predict.ts';
import { validate } from './validate.ts';

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
