import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { boundaryMap, NAMED_LOSSES, segmentationLoss, type LossName, type LossSpec } from './loss.ts';
import { learningRateAt } from './optimizer.ts';

describe('losses', () => {
  const y = tf.tensor4d([0, 0, 1, 1, 0, 0, 1, 1, 0], [1, 3, 3, 1]);
  for (const name of ['bce-dice', 'focal', 'boundary', 'surface-dice', { focal: 1, dice: 1, boundary: 0.01, surfaceDice: 1 }] as LossSpec[]) {
    it(`${JSON.stringify(name)}: lower for right logits than for wrong or uncertain ones`, async () => {
      await tf.setBackend('cpu');
      const right = tf.mul(tf.sub(tf.mul(y, 2), 1), 6) as tf.Tensor4D;
      const wrong = tf.neg(right) as tf.Tensor4D;
      const unsure = tf.zerosLike(y) as tf.Tensor4D;
      const l = (z: tf.Tensor4D) => segmentationLoss(name, z, y).dataSync()[0];
      expect(l(right)).toBeLessThan(l(unsure));
      expect(l(unsure)).toBeLessThan(l(wrong));
      expect(Number.isFinite(l(tf.mul(right, 1e4) as tf.Tensor4D))).toBe(true);
    });
  }
  it('a named loss is its weights, to the bit; weights scale their terms', async () => {
    await tf.setBackend('cpu');
    const z = tf.tensor4d([-3, 1, 2, 0.5, -1, 0, 4, -2, 1], [1, 3, 3, 1]);
    for (const [name, weights] of Object.entries(NAMED_LOSSES)) {
      expect(segmentationLoss(weights, z, y).dataSync()[0]).toBe(segmentationLoss(name as LossName, z, y).dataSync()[0]);
    }
    const v = (l: LossSpec) => segmentationLoss(l, z, y).dataSync()[0];
    expect(v({ dice: 1, surfaceDice: 0.5 })).toBeCloseTo(v({ dice: 1 }) + 0.5 * v({ surfaceDice: 1 }), 6);
    expect(() => segmentationLoss({ dice: 0 }, z, y)).toThrow(/positive weight/);
  });
  it('boundary map marks pixels next to a label edge', async () => {
    await tf.setBackend('cpu');
    const m = Array.from(boundaryMap(tf.tensor4d([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [1, 4, 4, 1])).dataSync());
    // The edge lies between rows 1 and 2: both rows are within one pixel of it, rows 0 and 3 are not.
    expect(m).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  });
});

describe('learning-rate schedule', () => {
  const o = { peak: 1e-3, warmupSteps: 10, totalSteps: 110 };
  it('warms up linearly, peaks, decays by cosine to 1% of the peak', () => {
    expect(learningRateAt(0, o)).toBeCloseTo(1e-4);
    expect(learningRateAt(9, o)).toBeCloseTo(1e-3);
    expect(learningRateAt(10, o)).toBeCloseTo(1e-3);
    expect(learningRateAt(60, o)).toBeCloseTo(0.5 * (1e-3 + 1e-5));
    expect(learningRateAt(110, o)).toBeCloseTo(1e-5);
    expect(learningRateAt(50, { ...o, warmupSteps: 0 })).toBeLessThan(1e-3);
  });
});
