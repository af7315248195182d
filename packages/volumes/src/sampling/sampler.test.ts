import { describe, expect, it } from 'vitest';
import { MemoryVolume } from '../store/memory.ts';
import { SamplerStateError, TileSampler, type TileSamplerOptions } from './sampler.ts';
import { generateSyntheticVolume } from '../synthetic/synthetic.ts';

const vol = generateSyntheticVolume({ shape: [24, 48, 40], seed: 5, id: 'a' });
const small = generateSyntheticVolume({ shape: [8, 20, 12], seed: 6, id: 'b', vesselDensity: 0.05 });
const opts: TileSamplerOptions = {
  volumes: [vol, small],
  tileSize: 32,
  slices: 3,
  axes: ['xy', 'xz', 'yz'],
  batchSize: 3,
  augmentationP: 0.5,
  seed: 42,
};

async function take(s: TileSampler, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await s.next());
  return out;
}

describe('TileSampler', () => {
  it('gives NHWC batches of the requested shape with 0/1 labels', async () => {
    const s = new TileSampler(opts);
    const [b] = await take(s, 1);
    expect(b.shape).toEqual([3, 32, 32, 3]);
    expect(b.x.length).toBe(3 * 32 * 32 * 3);
    expect(b.y.length).toBe(3 * 32 * 32);
    expect(b.y.every((v) => v === 0 || v === 1)).toBe(true);
    s.close();
    await expect(s.next()).rejects.toThrow(/closed/);
  });

  it('draws the same batches for the same seed, whatever the prefetch depth', async () => {
    const a = await take(new TileSampler({ ...opts, prefetch: 0 }), 6);
    const b = await take(new TileSampler({ ...opts, prefetch: 4 }), 6);
    for (let i = 0; i < 6; i++) {
      expect(b[i].x).toEqual(a[i].x);
      expect(b[i].y).toEqual(a[i].y);
    }
    const c = await take(new TileSampler({ ...opts, seed: 43 }), 1);
    expect(c[0].x).not.toEqual(a[0].x);
  });

  it('resumes from getState exactly where an uninterrupted run goes on, through JSON', async () => {
    const whole = await take(new TileSampler(opts), 7);
    const first = new TileSampler(opts);
    await take(first, 4);
    const saved = JSON.parse(JSON.stringify(first.getState()));
    first.close();
    const resumed = new TileSampler({ ...opts, prefetch: 3 });
    resumed.setState(saved);
    const rest = await take(resumed, 3);
    for (let i = 0; i < 3; i++) {
      expect(rest[i].x).toEqual(whole[4 + i].x);
      expect(rest[i].y).toEqual(whole[4 + i].y);
    }
  });

  it('refuses a state saved with other options', () => {
    const s = new TileSampler(opts);
    const other = new TileSampler({ ...opts, tileSize: 16 });
    expect(() => other.setState(s.getState())).toThrow(SamplerStateError);
    expect(() => other.setState({ cursor: 'x' })).toThrow(SamplerStateError);
  });

  it('takes a state under a retuned option only when told (PBT), and goes on from its cursor under the new one', async () => {
    const first = new TileSampler({ ...opts, augmentationP: 0.2 });
    await take(first, 2);
    const saved = first.getState();
    first.close();
    const retuned = new TileSampler({ ...opts, augmentationP: 0.6 });
    expect(() => retuned.setState(saved)).toThrow(SamplerStateError);
    expect(() => new TileSampler({ ...opts, augmentationP: 0.6, tileSize: 16 }).setState(saved, ['augmentationP'])).toThrow(SamplerStateError);
    retuned.setState(saved, ['augmentationP']);
    const fresh = new TileSampler({ ...opts, augmentationP: 0.6 });
    const [a] = await take(retuned, 1);
    const [b] = (await take(fresh, 3)).slice(2);
    expect(a.x).toEqual(b.x);
  });

  it('biases tiles towards vessels', async () => {
    const fgShare = async (foregroundShare: number) => {
      const s = new TileSampler({ ...opts, volumes: [vol], batchSize: 8, augmentationP: 0, foregroundShare });
      let pos = 0;
      let n = 0;
      for (const b of await take(s, 5)) {
        for (const v of b.y) pos += v;
        n += b.y.length;
      }
      return pos / n;
    };
    const none = await fgShare(0);
    const all = await fgShare(1);
    expect(all).toBeGreaterThan(3 * none);
  });

  it('copies voxels exactly without augmentation, zero-padding outside the volume', async () => {
    // A ramp volume: every voxel's value encodes its position, so a tile can be checked voxel by voxel.
    const shape = [5, 6, 7] as const;
    const img = new Uint16Array(5 * 6 * 7).map((_, i) => i + 1);
    const lab = new Uint8Array(img.length).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const v = new MemoryVolume('ramp', shape, img, lab, { p005: 0, p995: 1000, mean: 0, std: 1, foregroundFraction: 0.3 });
    const s = new TileSampler({ volumes: [v], tileSize: 16, slices: 3, axes: ['xz'], batchSize: 2, augmentationP: 0, seed: 1 });
    const b = await s.next();
    for (let t = 0; t < 2; t++) {
      const [sl, r, c] = b.tiles[t].centre; // axis xz: slice = y, row = z, col = x
      for (let i = 0; i < 16; i++) {
        for (let j = 0; j < 16; j++) {
          const z = r - 8 + i;
          const x = c - 8 + j;
          for (let ch = 0; ch < 3; ch++) {
            const y = sl - 1 + ch;
            const inside = z >= 0 && z < 5 && x >= 0 && x < 7 && y >= 0 && y < 6;
            const want = inside ? img[(z * 6 + y) * 7 + x] / 1000 : 0;
            expect(b.x[((t * 16 + i) * 16 + j) * 3 + ch]).toBeCloseTo(want, 6);
          }
          const insideL = z >= 0 && z < 5 && x >= 0 && x < 7;
          expect(b.y[(t * 16 + i) * 16 + j]).toBe(insideL ? lab[(z * 6 + sl) * 7 + x] : 0);
        }
      }
    }
  });

  it('moves labels with the image under flips and rotations', async () => {
    // Labels are exactly "image above a threshold", so after any geometric transform they must still be.
    const shape = [9, 40, 40] as const;
    const img = new Uint16Array(9 * 40 * 40).map((_, i) => (i * 2654435761) % 1000);
    const lab = Uint8Array.from(img, (v) => (v > 700 ? 1 : 0));
    const v = new MemoryVolume('thr', shape, img, lab, { p005: 0, p995: 1000, mean: 0, std: 1, foregroundFraction: 0.3 });
    const s = new TileSampler({ volumes: [v], tileSize: 32, slices: 3, axes: ['xy', 'yz'], batchSize: 8, augmentationP: 1, seed: 9, transforms: ['flipRows', 'flipCols', 'rot90'] });
    const b = await s.next();
    expect(b.tiles.some((t) => t.rot90 > 0 && t.flipRows)).toBe(true);
    for (let i = 0; i < b.y.length; i++) {
      const centre = b.x[i * 3 + 1];
      if (centre === 0) continue; // padding
      expect(b.y[i]).toBe(centre > 0.7 ? 1 : 0);
    }
  });

  it('changes tiles when every transform may fire, keeping labels binary', async () => {
    const [plain] = await take(new TileSampler({ ...opts, augmentationP: 0 }), 1);
    const [aug] = await take(new TileSampler({ ...opts, augmentationP: 1 }), 1);
    expect(aug.tiles.every((t) => t.scale !== 1 && t.noiseSigma > 0 && t.gamma !== 1)).toBe(true);
    expect(aug.x).not.toEqual(plain.x);
    expect(aug.y.every((v) => v === 0 || v === 1)).toBe(true);
    expect(() => new TileSampler({ ...opts, transforms: ['blur' as never] })).toThrow(/unknown augmentation blur/);
  });

  it('rejects unlabelled volumes and even slice counts', () => {
    const un = new MemoryVolume('u', [2, 2, 2], new Uint8Array(8));
    expect(() => new TileSampler({ ...opts, volumes: [un] })).toThrow(/no labels/);
    expect(() => new TileSampler({ ...opts, slices: 4 })).toThrow(/odd/);
  });
});
