import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MemoryVolume, normalizeSlice, Rng } from '@capillary/volumes';
import { selectBackend } from './backend.ts';
import { predictVolume, type PlaneAxis, type Predictor } from './predict.ts';
import { removeSmallComponents } from './components.ts';

/** A "network" whose probability is its centre input channel: tiling must reproduce the input. */
const echo = (k: number): Predictor => ({
  stride: 4,
  inChannels: k,
  predict: (x) => tf.slice(x, [0, 0, 0, (k - 1) / 2], [x.shape[0], x.shape[1], x.shape[2], 1]),
});

function randomVolume(shape: [number, number, number], seed: number): MemoryVolume {
  const r = Rng.of(seed);
  const img = Uint16Array.from({ length: shape[0] * shape[1] * shape[2] }, () => Math.floor(r.float() * 1000));
  return new MemoryVolume(`v${seed}`, shape, img);
}

async function collect(model: Predictor, v: MemoryVolume, axes: PlaneAxis[], extra: { tta?: boolean; tileSize?: number; slices?: number } = {}) {
  const slices: Array<{ z: number; mask: Uint8Array; prob?: Float32Array }> = [];
  const summary = await predictVolume(model, v, {
    axes,
    slices: extra.slices ?? 1,
    tileSize: extra.tileSize ?? 8,
    overlap: 0.5,
    tta: extra.tta ?? false,
    threshold: 0.5,
    onSlice: (z, mask, prob) => {
      slices.push({ z, mask, prob });
    },
  });
  return { slices, summary };
}

describe('predictVolume', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  it('lets timers and sockets run while it predicts, so a long prediction starves no connection', async () => {
    // Every read and pass of this prediction resolves as a microtask; without a turn of the event
    // loop per plane the timer would fire only after the last slice.
    const v = randomVolume([24, 16, 16], 2);
    let slices = 0;
    let firedAfter = -1;
    setTimeout(() => (firedAfter = slices), 0);
    await predictVolume(echo(1), v, { axes: ['xy', 'xz'], slices: 1, tileSize: 16, overlap: 0, tta: false, threshold: 0.5, onSlice: () => void slices++ });
    expect(slices).toBe(24);
    expect(firedAfter).toBeGreaterThanOrEqual(0);
    expect(firedAfter).toBeLessThan(24);
  });

  const shape: [number, number, number] = [6, 13, 11];
  const vol = randomVolume(shape, 5);
  const expected = async (z: number) => normalizeSlice(await vol.readImage('z', z, 1), vol.stats);

  for (const axes of [['xy'], ['xz'], ['yz'], ['xy', 'xz', 'yz']] as PlaneAxis[][]) {
    it(`streams z slices in order and blends tiles exactly (${axes.join('+')})`, async () => {
      const { slices, summary } = await collect(echo(1), vol, axes, { tta: axes.length === 1 });
      expect(slices.map((s) => s.z)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(summary.slices).toBe(6);
      for (const s of slices) {
        const want = await expected(s.z);
        // Every axis reaches the merge at 16 bits.
        const tol = 0.5 / 65535 + 1e-7;
        for (let i = 0; i < want.length; i++) expect(Math.abs(s.prob![i] - want[i])).toBeLessThanOrEqual(tol);
        expect(s.mask.length).toBe(shape[1] * shape[2]);
      }
    });
  }

  it('feeds k neighbouring slices with edges repeated', async () => {
    const seen: number[][] = [];
    const spy: Predictor = {
      stride: 1,
      inChannels: 3,
      predict: (x) => {
        const d = x.dataSync();
        seen.push([d[0], d[1], d[2]]);
        return tf.zeros([x.shape[0], x.shape[1], x.shape[2], 1]);
      },
    };
    const v = new MemoryVolume('ramp', [3, 2, 2], Uint16Array.from({ length: 12 }, (_, i) => Math.floor(i / 4) * 100));
    await collect(spy, v, ['xy'], { tileSize: 2, slices: 3 });
    const n = (r: number) => normalizeSlice(Uint16Array.of(r), v.stats)[0];
    expect(seen[0]).toEqual([n(0), n(0), n(100)]);
    expect(seen[2]).toEqual([n(100), n(200), n(200)]);
  });

  it('rejects a tile size the model cannot take, naming both', async () => {
    await expect(collect(echo(1), vol, ['xy'], { tileSize: 6 })).rejects.toThrow(/tileSize 6 .* stride 4/);
  });

  it('stops with an AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(
      predictVolume(echo(1), vol, { axes: ['xy'], slices: 1, tileSize: 8, overlap: 0, tta: false, threshold: 0.5, signal: ac.signal, onSlice: () => undefined }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('removeSmallComponents', () => {
  it('drops 3D components below the size, keeping 26-connected ones whole', async () => {
    const [Z, Y, X] = [4, 6, 6];
    const vox = new Uint8Array(Z * Y * X);
    const set = (z: number, y: number, x: number) => (vox[(z * Y + y) * X + x] = 1);
    // A diagonal chain through all slices (26-connected only): 4 voxels.
    for (let z = 0; z < 4; z++) set(z, z, z);
    // A single speck.
    set(1, 0, 5);
    // A 2x2x1 plate: 4 voxels; plus a U shape that merges two branches late (5 voxels).
    set(0, 5, 0), set(0, 5, 1), set(0, 4, 0), set(0, 4, 1);
    set(2, 0, 3), set(3, 0, 3), set(2, 2, 3), set(3, 2, 3), set(3, 1, 3);
    const out: Uint8Array[] = [];
    const f = removeSmallComponents(Y, X, 4, (z, m) => {
      out[z] = m;
    });
    for (let z = 0; z < Z; z++) f.push(z, vox.subarray(z * Y * X, (z + 1) * Y * X));
    const kept = await f.finish();
    expect(kept).toBe(4 + 4 + 5);
    const at = (z: number, y: number, x: number) => out[z][y * X + x];
    expect(at(3, 3, 3)).toBe(1);
    expect(at(1, 0, 5)).toBe(0);
    expect(at(0, 4, 1)).toBe(1);
    expect(at(2, 2, 3)).toBe(1);
  });
});
