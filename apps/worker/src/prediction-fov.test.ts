import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { Value } from 'typebox/value';
import { ExperimentSpec, PredictionOptions } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { selectBackend, type Predictor } from '@capillary/engine';
import { ensureBucket } from '@capillary/storage';
import { importVolume, type VolumeSource } from '@capillary/volumes/importers';
import { VolumeRegistry } from '@capillary/registry';
import { predictAndScore } from './prediction.ts';

// Test scores count only the voxels inside a volume's field of view, as validation does (DRIVE's F1
// is defined inside it), while the stored mask stays whole. A network that says "vessel"
// everywhere predicts a 32 x 32 image whose FOV is its left half.
describe('test scoring inside the field of view', () => {
  const db = prisma();
  const dataset = `fov-${randomUUID().slice(0, 8)}`;
  const H = 32;
  const W = 32;
  const fov = new Uint8Array(H * W);
  const label = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      fov[y * W + x] = x < 16 ? 1 : 0;
      // 32 labelled pixels inside the FOV, 128 outside it.
      if ((y >= 10 && y < 14 && x < 8) || (y >= 20 && y < 28 && x >= 16)) label[y * W + x] = 1;
    }
  }
  const source: VolumeSource = {
    name: 'retina', origin: 'test', shape: [1, H, W], dtype: 'uint8', hasLabels: true, hasMask: true, voxelSizeUm: [1, 1, 1],
    contentHash: async () => `fov-test-${dataset}`,
    async *slices() {
      yield { image: Uint8Array.from(label, (v, i) => v * 200 + (i % 7)), label: label.slice(), mask: fov.slice() };
    },
  };
  const everywhere: Predictor = { stride: 1, inChannels: 1, predict: (x) => tf.fill([x.shape[0], x.shape[1], x.shape[2], 1], 0.9) as tf.Tensor4D };

  beforeAll(async () => {
    await selectBackend('cpu');
    await ensureBucket();
    await importVolume(source, { catalog: new VolumeRegistry(prisma()), dataset, role: 'public_test' });
  });
  afterAll(async () => {
    await db.dataset.deleteMany({ where: { name: dataset } });
  });

  it('scores Dice over the FOV pixels only and leaves the predicted mask unclipped', async () => {
    const row = await db.volume.findFirstOrThrow({ where: { dataset: { name: dataset } } });
    expect(row.maskKey).not.toBeNull();
    const spec = Value.Default(ExperimentSpec, { dataset, model: 'unet', epochs: 1, lr: 0.01, tileSize: 16, depth: 2 }) as ExperimentSpec;
    const options = Value.Default(PredictionOptions, {}) as PredictionOptions;
    const masked: number[] = [];
    const result = await predictAndScore(everywhere, row, spec, options, { onSlice: async (_z, mask) => void masked.push(mask.reduce((a, b) => a + b, 0)) });
    // Inside the FOV: 512 predicted, 32 labelled, all of them hit. Counting every pixel would give
    // 2 * 160 / (1024 + 160) = 0.270 instead.
    expect(result.dice).toBeCloseTo((2 * 32) / (512 + 32), 12);
    expect(masked).toEqual([H * W]);
  });
});
