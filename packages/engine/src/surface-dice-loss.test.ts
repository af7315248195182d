import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients
import '@tensorflow/tfjs-backend-cpu';
import { SurfaceDiceStream } from '@capillary/metric';
import { Rng } from '@capillary/volumes';
import { softSurfaceDice } from './surface-dice-loss.ts';

/** A random 0/1 volume [D][H*W] with blobs, so surfaces partly coincide. */
function binaryVolume(rng: Rng, d: number, h: number, w: number, p: number): Uint8Array[] {
  return Array.from({ length: d }, () => Uint8Array.from({ length: h * w }, () => (rng.float() < p ? 1 : 0)));
}

/** [1, H, W, D] tensor (channels are z) from slices. */
function asTensor(slices: ArrayLike<number>[], h: number, w: number): tf.Tensor4D {
  const d = slices.length;
  const out = new Float32Array(h * w * d);
  slices.forEach((s, z) => {
    for (let i = 0; i < h * w; i++) out[i * d + z] = s[i];
  });
  return tf.tensor4d(out, [1, h, w, d]);
}

describe('soft surface Dice', () => {
  it('equals the streamed metric on binary volumes (padded like the metric)', async () => {
    await tf.setBackend('cpu');
    const rng = Rng.of(7, 1);
    for (const [d, h, w] of [[5, 7, 6], [1, 4, 9], [3, 3, 3]] as const) {
      for (let trial = 0; trial < 3; trial++) {
        const truth = binaryVolume(rng, d, h, w, 0.4);
        // The prediction is the truth with some voxels flipped: partial agreement.
        const pred = truth.map((s) => s.map((v) => (rng.float() < 0.25 ? 1 - v : v)));
        const stream = new SurfaceDiceStream(h, w);
        for (let z = 0; z < d; z++) stream.push(truth[z], pred[z]);
        const expected = stream.result().surfaceDice!;
        const got = softSurfaceDice(asTensor(pred, h, w), asTensor(truth, h, w), { pad: true, smooth: 0 }).dataSync()[0];
        expect(Math.abs(got - expected)).toBeLessThan(1e-5);
      }
    }
    // Identical masks score 1, disjoint ones 0.
    const t = binaryVolume(rng, 4, 5, 5, 0.5);
    expect(softSurfaceDice(asTensor(t, 5, 5), asTensor(t, 5, 5), { pad: true, smooth: 0 }).dataSync()[0]).toBeCloseTo(1, 6);
  });

  it('has the gradient finite differences give, on small volumes', async () => {
    await tf.setBackend('cpu');
    const rng = Rng.of(11, 2);
    for (const [n, h, w, d, pad] of [[1, 5, 4, 3, false], [2, 4, 4, 1, false], [1, 3, 4, 2, true]] as const) {
      const size = n * h * w * d;
      const y = tf.tensor4d(Float32Array.from({ length: size }, () => (rng.float() < 0.4 ? 1 : 0)), [n, h, w, d]);
      const z0 = Float32Array.from({ length: size }, () => rng.range(-2, 2));
      const f = (z: tf.Tensor4D) => softSurfaceDice(tf.sigmoid(z) as tf.Tensor4D, y, { pad, smooth: 0 });
      const g = tf.grad((z: tf.Tensor) => f(z as tf.Tensor4D))(tf.tensor4d(z0, [n, h, w, d])).dataSync();
      const eps = 2e-2;
      let checked = 0;
      for (let i = 0; i < size; i++) {
        const plus = Float32Array.from(z0);
        const minus = Float32Array.from(z0);
        plus[i] += eps;
        minus[i] -= eps;
        const fd = (f(tf.tensor4d(plus, [n, h, w, d])).dataSync()[0] - f(tf.tensor4d(minus, [n, h, w, d])).dataSync()[0]) / (2 * eps);
        expect(Math.abs(g[i] - fd)).toBeLessThan(1e-5 + 0.03 * Math.abs(fd));
        if (Math.abs(fd) > 1e-4) checked++;
      }
      // The check is not vacuous: most voxels move the score.
      expect(checked).toBeGreaterThan(size / 2);
    }
  });
});
