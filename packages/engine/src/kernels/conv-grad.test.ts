import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../backend.ts';
import { expectClose, valuesOn as on } from '../testing/tensors.ts';

// Against cpu at this relative tolerance.
const TOL = 1e-3;

const cases: Array<{ name: string; x: [number, number, number, number]; w: [number, number, number, number]; stride: number; pad: 'same' | 'valid' }> = [
  { name: '3x3 same, odd sizes', x: [2, 7, 5, 3], w: [3, 3, 3, 4], stride: 1, pad: 'same' },
  { name: '3x3 valid', x: [1, 9, 6, 2], w: [3, 3, 2, 5], stride: 1, pad: 'valid' },
  { name: '1x1', x: [3, 5, 5, 4], w: [1, 1, 4, 2], stride: 1, pad: 'same' },
  { name: '3x3 stride 2 same, odd', x: [2, 9, 7, 3], w: [3, 3, 3, 2], stride: 2, pad: 'same' },
  { name: '2x2 stride 2 valid', x: [2, 8, 6, 3], w: [2, 2, 3, 5], stride: 2, pad: 'valid' },
  { name: '5x3 same', x: [1, 6, 7, 2], w: [5, 3, 2, 3], stride: 1, pad: 'same' },
];

describe('wasm convolution gradient kernels match cpu', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });
  for (const c of cases) {
    it(`conv2d gradients: ${c.name}`, async () => {
      const f = (x: tf.Tensor, w: tf.Tensor) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), tf.range(1, 2, 1))));
        return g([x, w]);
      };
      // A fixed weighting of the output makes dy non-uniform.
      const fw = (x: tf.Tensor, w: tf.Tensor, r: tf.Tensor) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)));
        return g([x, w]);
      };
      const outShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.w) as tf.Tensor4D, c.stride, c.pad).shape as number[]) as [number, number, number, number];
      const ref = await on('cpu', [c.x, c.w, outShape], fw);
      const got = await on('wasm', [c.x, c.w, outShape], fw);
      expectClose(got[0], ref[0], TOL);
      expectClose(got[1], ref[1], TOL);
      void f;
    });
  }
  it('2x2 stride-2 transposed convolution forward and gradients', async () => {
    const fw = (x: tf.Tensor, w: tf.Tensor, r: tf.Tensor) => {
      const y = tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, 6, 10, 3], 2, 'valid');
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [2, 6, 10, 3], 2, 'valid'), r)),
      );
      return [y, ...g([x, w])];
    };
    const ref = await on('cpu', [[2, 3, 5, 4], [2, 2, 3, 4], [2, 6, 10, 3]], fw);
    const got = await on('wasm', [[2, 3, 5, 4], [2, 2, 3, 4], [2, 6, 10, 3]], fw);
    for (let i = 0; i < 3; i++) expectClose(got[i], ref[i], TOL);
  });
});
