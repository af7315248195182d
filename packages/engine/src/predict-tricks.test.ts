import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MemoryVolume, normalizeSlice, Rng, type Axis } from '@capillary/volumes';
import { selectBackend } from './backend.ts';
import { predictVolume, type PredictOptions, type Predictor } from './predict.ts';

/** k in, k out: output channel j is input channel j plus `offset(j)`. */
const echoK = (k: number, offset: (j: number) => number): Predictor => ({
  stride: 4,
  inChannels: k,
  outChannels: k,
  predict: (x) => tf.tidy(() => tf.add(x, tf.tensor1d(Array.from({ length: k }, (_, j) => offset(j))))) as tf.Tensor4D,
});
const echo1: Predictor = { stride: 4, inChannels: 1, predict: (x) => tf.clone(x) };

function randomVolume(shape: [number, number, number], seed: number): MemoryVolume {
  const r = Rng.of(seed);
  return new MemoryVolume(`v${seed}`, shape, Uint16Array.from({ length: shape[0] * shape[1] * shape[2] }, () => Math.floor(r.float() * 1000)));
}

/** A smooth volume: resampling it and back changes little. */
function smoothVolume(shape: [number, number, number]): MemoryVolume {
  const [Z, Y, X] = shape;
  const img = new Uint16Array(Z * Y * X);
  for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) img[(z * Y + y) * X + x] = Math.round(500 + 400 * Math.sin(z / 3) * Math.cos(y / 4) * Math.sin(x / 5 + 1));
  return new MemoryVolume('smooth', shape, img);
}

async function run(model: Predictor, v: MemoryVolume, o: Partial<PredictOptions> = {}) {
  const out: Array<{ z: number; mask: Uint8Array; prob?: Float32Array }> = [];
  const summary = await predictVolume(model, v, {
    axes: ['xy'], slices: model.inChannels, tileSize: 8, overlap: 0.5, tta: false, threshold: 0.5, ...o,
    onSlice: (z, mask, prob) => void out.push({ z, mask, prob }),
  });
  return { out, summary };
}

describe('prediction tricks', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  it('k out: each plane averages the output slices of every window covering it, on every axis', async () => {
    const v = randomVolume([6, 9, 10], 4);
    // Offsets -0.1, 0, +0.1 cancel where three windows cover a plane; at the edges one is missing.
    const { out } = await run(echoK(3, (j) => (j - 1) * 0.1), v);
    expect(out.map((s) => s.z)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const s of out) {
      const want = normalizeSlice(await v.readImage('z', s.z, 1), v.stats);
      // Plane 0 is covered by windows 0 (offset 0) and 1 (offset -0.1); the last by its own and the one before (+0.1).
      const shift = s.z === 0 ? -0.05 : s.z === 5 ? 0.05 : 0;
      // Every axis is handed to the merge at 16 bits, clamped to [0, 1] as probabilities are.
      for (let i = 0; i < want.length; i++) expect(Math.abs(s.prob![i] - Math.min(1, Math.max(0, want[i] + shift)))).toBeLessThanOrEqual(0.5 / 65535 + 1e-7);
    }
    // Along y and x the same averaging happens before the spill (16 bits).
    const three = await run(echoK(3, () => 0), v, { axes: ['xz', 'yz'] });
    for (const s of three.out) {
      const want = normalizeSlice(await v.readImage('z', s.z, 1), v.stats);
      for (let i = 0; i < want.length; i++) expect(Math.abs(s.prob![i] - want[i])).toBeLessThanOrEqual(0.5 / 65535 + 1e-7);
    }
  });

  it('percentile threshold: the share of positive voxels is the one asked for', async () => {
    const v = randomVolume([5, 12, 12], 8);
    for (const fraction of [0.02, 0.3, 0.85]) {
      const { out, summary } = await run(echo1, v, { positiveFraction: fraction, threshold: 0.99 });
      const positives = out.reduce((n, s) => n + s.mask.reduce((a, b) => a + b, 0), 0);
      expect(summary.foregroundVoxels).toBe(positives);
      // Intensities are integers 0..999, so ties allow about one level (1/1000 of the voxels) of slack.
      expect(Math.abs(positives / (5 * 144) - fraction)).toBeLessThan(0.01);
      expect(summary.threshold).not.toBe(0.99);
      for (const s of out) for (let i = 0; i < s.mask.length; i++) expect(s.mask[i]).toBe(s.prob![i] > summary.threshold ? 1 : 0);
    }
    const fixed = await run(echo1, v, { threshold: 0.5 });
    expect(fixed.summary.threshold).toBe(0.5);
  });

  it('predictScale: predicts on the resampled grid and maps the probabilities back, reading a few planes at a time', async () => {
    const v = smoothVolume([10, 16, 20]);
    const reads: number[] = [];
    const spy = Object.create(v) as MemoryVolume;
    spy.readImage = async (axis: Axis, start: number, count: number) => {
      reads.push(count);
      return v.readImage(axis, start, count);
    };
    let tiles = 0;
    const tileSpy: Predictor = { ...echo1, predict: (x) => ((tiles += x.shape[0]), tf.clone(x)) };
    const tilesAt: number[] = [];
    for (const factor of [2, 0.5, 1.3]) {
      tiles = 0;
      reads.length = 0;
      const { out } = await run(tileSpy, spy, { predictScale: factor, axes: ['xy', 'yz'], tileSize: 8 });
      expect(out.map((s) => s.z)).toEqual([...Array(10).keys()]);
      let err = 0;
      let n = 0;
      for (const s of out) {
        const want = normalizeSlice(await v.readImage('z', s.z, 1), v.stats);
        expect(s.prob!.length).toBe(16 * 20);
        for (let i = 0; i < want.length; i++) {
          err += Math.abs(s.prob![i] - want[i]);
          n++;
        }
      }
      // Down and up again blurs a smooth field only a little.
      expect(err / n).toBeLessThan(factor < 1 ? 0.06 : 0.02);
      // Streaming: the resampler reads at most two source planes at a time.
      expect(Math.max(...reads)).toBeLessThanOrEqual(2);
      tilesAt.push(tiles);
    }
    // The network saw the resampled grid: more voxels, more tiles.
    expect(tilesAt[0]).toBeGreaterThan(tilesAt[2]);
    expect(tilesAt[2]).toBeGreaterThan(tilesAt[1]);
  });

  it('predictScale 1 and no percentile give exactly the plain prediction', async () => {
    const v = randomVolume([4, 8, 8], 2);
    const a = await run(echo1, v);
    const b = await run(echo1, v, { predictScale: 1 });
    b.out.forEach((s, z) => expect(s.prob).toEqual(a.out[z].prob));
  });
});
