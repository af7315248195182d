import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { expectClose, valuesOn as on } from '../testing/tensors.ts';
import { selectBackend } from '../backend.ts';
import { onednnUnavailableReason } from './addon.ts';
import { onednnCalls } from './kernels.ts';
import { batchNormBackward, channelMoments, scaleShift } from '../nn/batch-norm.ts';

// Where Debian's oneDNN headers are installed, setup builds the addon: it must then load and run.
const hasOnednn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && process.env.CAPILLARY_ONEDNN !== '0';

// Every comparison here is against cpu at this relative tolerance unless a case says otherwise.
const TOL = 1e-4;

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
const cases: Array<{ name: string; x: [number, number, number, number]; w: [number, number, number, number]; stride: number | [number, number]; pad: Pad }> = [
  { name: '3x3 same, odd sizes, 3 -> 5 channels', x: [2, 7, 5, 3], w: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { name: '3x3 valid, batch 1, 13 -> 17 channels', x: [1, 9, 6, 13], w: [3, 3, 13, 17], stride: 1, pad: 'valid' },
  { name: '1x1, 20 -> 3 channels', x: [3, 5, 5, 20], w: [1, 1, 20, 3], stride: 1, pad: 'same' },
  { name: '3x3 stride 2 same, odd sizes', x: [2, 9, 7, 3], w: [3, 3, 3, 2], stride: 2, pad: 'same' },
  { name: '3x3 stride 2 valid, odd sizes (rows dropped)', x: [1, 10, 8, 5], w: [3, 3, 5, 6], stride: 2, pad: 'valid' },
  { name: '2x2 stride 2 valid', x: [2, 8, 6, 3], w: [2, 2, 3, 5], stride: 2, pad: 'valid' },
  { name: '5x3 same, strides 2 x 1', x: [1, 6, 7, 2], w: [5, 3, 2, 3], stride: [2, 1], pad: 'same' },
  { name: 'explicit asymmetric padding', x: [2, 6, 5, 7], w: [3, 3, 7, 9], stride: 1, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] },
];

describe.runIf(hasOnednn)('onednn kernels match cpu', () => {
  beforeAll(async () => {
    expect(onednnUnavailableReason()).toBeUndefined();
    expect(await selectBackend('onednn', 2)).toBe('onednn');
  });

  for (const c of cases) {
    it(`conv2d forward and both gradients: ${c.name}`, async () => {
      const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad);
      const outShape = tf.tidy(() => conv(tf.zeros(c.x), tf.zeros(c.w)).shape as number[]);
      // A fixed weighting of the output makes dy non-uniform.
      const f = (x: tf.Tensor, w: tf.Tensor, r: tf.Tensor) => [conv(x, w), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)))([x, w])];
      const ref = await on('cpu', [c.x, c.w, outShape], f);
      const before = { ...Object.fromEntries(onednnCalls.native), fb: onednnCalls.fallback.size };
      const got = await on('onednn', [c.x, c.w, outShape], f);
      for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']) expect(onednnCalls.native.get(k) ?? 0).toBeGreaterThan((before as Record<string, number>)[k] ?? 0);
      expect(onednnCalls.fallback.size).toBe(before.fb);
      for (let i = 0; i < 3; i++) expectClose(got[i], ref[i], TOL);
    });
  }

  it('dilated conv2d forward (tfjs has no gradient for dilations)', async () => {
    const f = (x: tf.Tensor, w: tf.Tensor) => [tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2)];
    const ref = await on('cpu', [[1, 9, 9, 4], [3, 3, 4, 6]], f);
    const got = await on('onednn', [[1, 9, 9, 4], [3, 3, 4, 6]], f);
    expectClose(got[0], ref[0], TOL);
  });

  it('fused conv2d: bias and ReLU as post-ops, and bias alone', async () => {
    const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
      (['relu', 'linear'] as const).map((activation) =>
        tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 2, pad: 'same', bias: b, activation }),
      );
    const shapes = [[1, 11, 9, 5], [3, 3, 5, 11], [11]];
    const ref = await on('cpu', shapes, f);
    const before = onednnCalls.native.get('FusedConv2D') ?? 0;
    const got = await on('onednn', shapes, f);
    expect(onednnCalls.native.get('FusedConv2D')).toBe(before + 2);
    expect(ref[0].some((v) => v === 0) && ref[1].some((v) => v < 0)).toBe(true);
    for (let i = 0; i < 2; i++) expectClose(got[i], ref[i], TOL);
  });

  it('an activation oneDNN is not given runs the wasm kernel and still matches', async () => {
    const f = (x: tf.Tensor, w: tf.Tensor) => [tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', activation: 'elu' })];
    const ref = await on('cpu', [[1, 5, 5, 3], [3, 3, 3, 4]], f);
    const before = onednnCalls.fallback.get('FusedConv2D') ?? 0;
    const got = await on('onednn', [[1, 5, 5, 3], [3, 3, 3, 4]], f);
    expect(onednnCalls.fallback.get('FusedConv2D')).toBe(before + 1);
    expectClose(got[0], ref[0], TOL);
  });

  it('2x2 stride-2 transposed convolution (U-Net up-convolution) forward and gradients, odd channels, batch 1', async () => {
    const up = (a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [1, 6, 10, 3], 2, 'valid');
    const f = (x: tf.Tensor, w: tf.Tensor, r: tf.Tensor) => [up(x, w), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(up(a, b), r)))([x, w])];
    const shapes = [[1, 3, 5, 7], [2, 2, 3, 7], [1, 6, 10, 3]];
    const ref = await on('cpu', shapes, f);
    const got = await on('onednn', shapes, f);
    for (let i = 0; i < 3; i++) expectClose(got[i], ref[i], TOL);
  });

  for (const [name, x, size, stride, pad] of [
    ['2x2 stride 2, odd sizes and channels', [2, 9, 7, 5], 2, 2, 'valid'],
    ['3x3 stride 2 same (overlapping windows, padding)', [1, 8, 9, 3], 3, 2, 'same'],
    ['3x3 stride 1 same, batch 1', [1, 6, 5, 17], 3, 1, 'same'],
  ] as const) {
    it(`max-pool gradient: ${name}`, async () => {
      const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, size, stride, pad);
      const outShape = tf.tidy(() => pool(tf.zeros([...x])).shape as number[]);
      const f = (a: tf.Tensor, r: tf.Tensor) => [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t), r)))(a)];
      const ref = await on('cpu', [[...x], outShape], f);
      const before = onednnCalls.native.get('MaxPoolGrad') ?? 0;
      const got = await on('onednn', [[...x], outShape], f);
      expect(onednnCalls.native.get('MaxPoolGrad')).toBe(before + 1);
      expectClose(got[0], ref[0], TOL);
    });
  }

  it('max-pool gradient breaks ties like cpu (ReLU zeros): first maximum of the window', async () => {
    const f = (a: tf.Tensor) => [tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(tf.relu(t) as tf.Tensor4D, 2, 2, 'valid')))(a)];
    const ref = await on('cpu', [[1, 6, 6, 3]], f);
    const got = await on('onednn', [[1, 6, 6, 3]], f);
    expect(Array.from(got[0])).toEqual(Array.from(ref[0]));
  });

  it('fused batch-norm kernels (moments, scale-shift + ReLU, backward moments and affine) match tfjs ops on cpu', async () => {
    const shapes = [[2, 33, 17, 13], [2, 33, 17, 13], [2, 33, 17, 13], [13], [13], [13]];
    const f = (fused: boolean) => (x: tf.Tensor, dy: tf.Tensor, gate: tf.Tensor, s: tf.Tensor, h: tf.Tensor, k: tf.Tensor) => tf.tidy(() => {
      const [x4, dy4, g4] = [x, dy, gate] as tf.Tensor4D[];
      const [s1, h1, k1] = [s, h, k] as tf.Tensor1D[];
      if (fused) {
        const back = batchNormBackward(dy4, g4, x4);
        const plain = batchNormBackward(dy4, null, x4);
        return [...channelMoments(x4), scaleShift(x4, s1, h1, true), scaleShift(x4, s1, h1, false), back.meanDz, back.meanDzY, back.affine(s1, h1, k1), plain.meanDz, plain.affine(s1, h1, k1)];
      }
      const mean = (t: tf.Tensor) => tf.mean(t, [0, 1, 2]);
      const dz = tf.mul(dy4, tf.cast(tf.greater(g4, 0), 'float32'));
      const aff = (d: tf.Tensor) => tf.add(tf.add(tf.mul(d, s1), tf.mul(x4, h1)), k1);
      return [mean(x4), mean(tf.square(x4)), tf.relu(tf.add(tf.mul(x4, s1), h1)), tf.add(tf.mul(x4, s1), h1), mean(dz), mean(tf.mul(dz, x4)), aff(dz), mean(dy4), aff(dy4)];
    });
    const ref = await on('cpu', shapes, f(false));
    const got = await on('onednn', shapes, f(true));
    expect(got.length).toBe(ref.length);
    got.forEach((g, i) => expectClose(g, ref[i], 1e-5));
  });

  it('is deterministic: the same weight and data gradients, bit for bit, on every call', async () => {
    const f = (x: tf.Tensor, w: tf.Tensor, r: tf.Tensor) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), r)))([x, w]);
    const shapes = [[4, 32, 32, 16], [3, 3, 16, 16], [4, 32, 32, 16]];
    const a = await on('onednn', shapes, f);
    const b = await on('onednn', shapes, f);
    for (let i = 0; i < 2; i++) expect(Buffer.from(a[i].buffer).equals(Buffer.from(b[i].buffer))).toBe(true);
    // Batch-norm sums on a tensor large enough to be split over both threads.
    const bnShapes = [[4, 64, 64, 70], [4, 64, 64, 70], [4, 64, 64, 70]];
    const g = (x: tf.Tensor, dy: tf.Tensor, gate: tf.Tensor) => {
      const back = batchNormBackward(dy as tf.Tensor4D, gate as tf.Tensor4D, x as tf.Tensor4D);
      return [...channelMoments(x as tf.Tensor4D), back.meanDz, back.meanDzY];
    };
    const c = await on('onednn', bnShapes, g);
    const d = await on('onednn', bnShapes, g);
    for (let i = 0; i < 4; i++) expect(Buffer.from(c[i].buffer).equals(Buffer.from(d[i].buffer))).toBe(true);
  });

  it('shares tensors with wasm without copies (one backend object)', async () => {
    await tf.setBackend('onednn');
    const t = tf.tensor([1, 2, 3]);
    await tf.setBackend('wasm');
    const u = tf.mul(t, 2);
    expect(Array.from(await u.data())).toEqual([2, 4, 6]);
    expect(tf.findBackend('wasm')).toBe(tf.findBackend('onednn'));
    tf.dispose([t, u]);
  });
});

describe('onednn unavailable', () => {
  it('a forced onednn says why; auto falls back to wasm', async () => {
    const fixture = fileURLToPath(new URL('./fallback.fixture.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], { env: { ...process.env, CAPILLARY_ONEDNN: '0' } });
    expect(JSON.parse(stdout)).toEqual({ forced: expect.stringMatching(/^BackendUnavailableError: .*"onednn" is unavailable \(disabled by CAPILLARY_ONEDNN=0\)/), auto: 'wasm' });
  });
});
