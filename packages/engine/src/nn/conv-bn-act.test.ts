import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@capillary/volumes';
import { selectBackend } from '../backend.ts';
import { onednnUnavailableReason } from '../onednn/addon.ts';
import { batchNormTrain, channelMean } from './batch-norm.ts';
import { convBnAct } from './conv-bn-act.ts';
import { expectClose } from '../testing/tensors.ts';

const rand = (shape: number[], seed: number) => {
  const r = Rng.of(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()), shape);
};

/** Plain tfjs composition of conv + batch norm (batch statistics) + ReLU, differentiated by tfjs. */
function reference(xs: tf.Tensor4D[], w: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, relu: boolean): tf.Tensor4D {
  const y = tf.conv2d(xs.length === 1 ? xs[0] : (tf.concat(xs, 3) as tf.Tensor4D), w, 1, 'same');
  const { mean, variance } = tf.moments(y, [0, 1, 2]);
  const z = tf.add(tf.mul(tf.div(tf.sub(y, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b) as tf.Tensor4D;
  return relu ? tf.relu(z) : z;
}

async function gradsOf(backend: string, fn: typeof reference, split: boolean, relu: boolean) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const x1 = rand([2, 7, 5, 3], 1) as tf.Tensor4D;
    const x2 = rand([2, 7, 5, 2], 2) as tf.Tensor4D;
    const w = rand([3, 3, 5, 4], 3) as tf.Tensor4D;
    const g = tf.add(rand([4], 4), 1) as tf.Tensor1D;
    const b = rand([4], 5) as tf.Tensor1D;
    const r = rand([2, 7, 5, 4], 6);
    const xs = split ? [tf.slice(x1, [0, 0, 0, 0], [2, 7, 5, 3]), x2] : [tf.concat([x1, x2], 3) as tf.Tensor4D];
    const f = (...args: tf.Tensor[]) => tf.sum(tf.mul(fn(args.slice(0, xs.length) as tf.Tensor4D[], args[xs.length] as tf.Tensor4D, args[xs.length + 1] as tf.Tensor1D, args[xs.length + 2] as tf.Tensor1D, relu), r));
    return tf.grads(f)([...xs, w, g, b]).map((t) => t.dataSync().slice() as Float32Array);
  });
}

const fused: typeof reference = (xs, w, g, b, relu) => convBnAct(xs, w, g, b, { relu, stride: 1, onStats: () => undefined });

// Against the plain tfjs composition at this relative tolerance.
const TOL = 2e-3;

// onednn where its addon is built: its fused batch-norm kernels replace the tfjs ops.
const backends = onednnUnavailableReason() ? ['cpu', 'wasm'] : ['cpu', 'wasm', 'onednn'];

describe('fused convolution + batch norm + ReLU', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
    if (backends.includes('onednn')) await selectBackend('onednn', 2);
  });
  for (const [split, relu] of [[false, true], [true, true], [false, false]] as const) {
    it(`gradients match plain tfjs ops on cpu (${split ? 'two inputs' : 'one input'}, relu ${relu})`, async () => {
      const ref = await gradsOf('cpu', reference, split, relu);
      for (const backend of backends) {
        const got = await gradsOf(backend, fused, split, relu);
        expect(got.length).toBe(ref.length);
        got.forEach((g, i) => expectClose(g, ref[i], TOL));
      }
    });
  }

  it('batch norm alone matches tfjs moments-based batch norm', async () => {
    const run = async (backend: string, f: (x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor4D) => {
      await tf.setBackend(backend);
      return tf.tidy(() => {
        const x = rand([3, 6, 5, 4], 11) as tf.Tensor4D;
        const g = tf.add(rand([4], 12), 1) as tf.Tensor1D;
        const b = rand([4], 13) as tf.Tensor1D;
        const r = rand([3, 6, 5, 4], 14);
        return tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D), r)))([x, g, b]).map((t) => t.dataSync() as Float32Array);
      });
    };
    const ref = await run('cpu', (x, g, b) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b) as tf.Tensor4D;
    });
    for (const backend of backends.slice(1)) {
      const got = await run(backend, (x, g, b) => batchNormTrain(x, g, b, () => undefined));
      got.forEach((t, i) => expectClose(t, ref[i], TOL));
    }
  });

  it('channel means over N, H, W', async () => {
    await tf.setBackend('wasm');
    const x = rand([3, 9, 4, 5], 9) as tf.Tensor4D;
    expectClose((await channelMean(x).data()) as Float32Array, (await tf.mean(x, [0, 1, 2]).data()) as Float32Array, 1e-5);
    x.dispose();
  });

  it('wasm clones share memory (no copy per saved tensor)', async () => {
    await tf.setBackend('wasm');
    const a = tf.ones([1000]);
    const c = tf.clone(a);
    expect((c as unknown as { dataId: object }).dataId).toBe((a as unknown as { dataId: object }).dataId);
    a.dispose();
    expect(Array.from(await c.data()).every((v) => v === 1)).toBe(true);
    c.dispose();
  });
});
