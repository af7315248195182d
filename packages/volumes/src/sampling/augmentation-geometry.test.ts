import { describe, expect, it } from 'vitest';
import { MemoryVolume } from '../store/memory.ts';
import { Rng } from '../rng.ts';
import { AUGMENTATIONS, type AugmentationName } from './augmentations.ts';
import { TileSampler, type Batch, type TileSamplerOptions } from './sampler.ts';

/**
 * Balls whose image is their label: 700 inside, 300 outside (normalised 0.67 and 0.22), so a
 * normalised voxel is above 0.5 exactly where the label is. Any transform that moved the image and the label differently shows up as
 * tile pixels where (image > 0.5) and label disagree.
 */
function ballVolume(): MemoryVolume {
  const shape: [number, number, number] = [20, 36, 36];
  const [Z, Y, X] = shape;
  const rng = Rng.of(3, 9);
  const label = new Uint8Array(Z * Y * X);
  for (let b = 0; b < 14; b++) {
    const c = [rng.range(0, Z), rng.range(0, Y), rng.range(0, X)];
    const r = rng.range(3, 6);
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) if ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r * r) label[(z * Y + y) * X + x] = 1;
  }
  const image = Uint16Array.from(label, (l) => (l ? 700 : 300));
  return new MemoryVolume('balls', shape, image, label, { p005: 100, p995: 1000, mean: 0, std: 1, foregroundFraction: null });
}

const vol = ballVolume();
const base: TileSamplerOptions = {
  volumes: [vol],
  tileSize: 24,
  slices: 3,
  outputSlices: 3,
  axes: ['xy', 'xz', 'yz'],
  batchSize: 4,
  augmentationP: 1,
  seed: 17,
  foregroundShare: 1,
  transforms: [],
  prefetch: 0,
};

async function batches(o: Partial<TileSamplerOptions>, n = 3): Promise<Batch[]> {
  const s = new TileSampler({ ...base, ...o });
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await s.next());
  s.close();
  return out;
}

/** Share of pixels (over every channel) where image and label disagree; padding counts as agreement. */
function disagreement(bs: Batch[]): number {
  let bad = 0;
  let all = 0;
  for (const b of bs) {
    const k = b.shape[3];
    for (let p = 0; p < b.y.length / 3; p++)
      for (let ch = 0; ch < 3; ch++) {
        all++;
        if ((b.x[p * k + ch] > 0.5 ? 1 : 0) !== b.y[p * 3 + ch]) bad++;
      }
  }
  return bad / all;
}

const GEOMETRIC: AugmentationName[] = ['flipRows', 'flipCols', 'rot90', 'reverseSlices', 'scale'];
const INTENSITY = AUGMENTATIONS.filter((a) => !GEOMETRIC.includes(a));

describe('augmentations keep image and label together', () => {
  it('untransformed tiles agree exactly (the check itself)', async () => {
    const bs = await batches({});
    expect(disagreement(bs)).toBe(0);
    const fg = bs.flatMap((b) => Array.from(b.y)).filter((v) => v === 1).length;
    expect(fg).toBeGreaterThan(100); // tiles sit on balls: both classes present
  });

  for (const name of GEOMETRIC) {
    it(`${name}: moves image and label (every output slice) together`, async () => {
      const plain = await batches({});
      const moved = await batches({ transforms: [name] });
      expect(moved.every((b) => b.tiles.every((t) => (name === 'scale' ? t.scale !== 1 : name === 'rot90' ? t.rot90 > 0 : t[name as 'flipRows'])))).toBe(true);
      // It did move them...
      expect(moved.some((b, i) => b.y.some((v, j) => v !== plain[i].y[j]))).toBe(true);
      // ...together: exactly for the pixel-exact transforms, up to interpolation at ball edges for scale.
      if (name === 'scale') expect(disagreement(moved)).toBeLessThan(0.03);
      else expect(disagreement(moved)).toBe(0);
    });
  }

  it('3D rotation of the plane: image and label rotate together, up to interpolation at edges', async () => {
    const plain = await batches({});
    const rotated = await batches({ rotation3dP: 1, rotation3dMaxDegrees: 45 });
    const tiles = rotated.flatMap((b) => b.tiles);
    expect(tiles.every((t) => t.rotation3d && Math.abs(t.rotation3d.degrees) <= 45)).toBe(true);
    const axis = tiles[0].rotation3d!.axis;
    expect(Math.hypot(...axis)).toBeCloseTo(1, 9);
    expect(rotated.some((b, i) => b.y.some((v, j) => v !== plain[i].y[j]))).toBe(true);
    expect(disagreement(rotated)).toBeLessThan(0.03);
    // Combined with every geometric transform at once.
    expect(disagreement(await batches({ rotation3dP: 1, transforms: GEOMETRIC }))).toBeLessThan(0.03);
  });

  it('a rotation by 0 degrees is the axis-aligned tile', async () => {
    const plain = await batches({});
    const zero = await batches({ rotation3dP: 1, rotation3dMaxDegrees: 1e-9 });
    for (let i = 0; i < plain.length; i++) {
      expect(zero[i].y).toEqual(plain[i].y);
      for (let j = 0; j < plain[i].x.length; j++) expect(Math.abs(zero[i].x[j] - plain[i].x[j])).toBeLessThan(1e-5);
    }
  });

  it('intensity transforms change the image, never the label', async () => {
    const plain = await batches({});
    for (const name of INTENSITY) {
      const changed = await batches({ transforms: [name] });
      changed.forEach((b, i) => expect(b.y).toEqual(plain[i].y));
      expect(changed.some((b, i) => b.x.some((v, j) => v !== plain[i].x[j]))).toBe(true);
    }
  });

  it('k out: label channels are the neighbouring slices, in the order of the image channels', async () => {
    const [one] = await batches({ outputSlices: 1, axes: ['xy'] }, 1);
    const [three] = await batches({ axes: ['xy'] }, 1);
    expect(one.labelChannels).toBe(1);
    expect(three.labelChannels).toBe(3);
    // The centre label channel of 3-out is the 1-out label.
    for (let p = 0; p < one.y.length; p++) expect(three.y[p * 3 + 1]).toBe(one.y[p]);
    // Each label channel matches its image channel (the image is the label here).
    for (let p = 0; p < one.y.length; p++) for (let ch = 0; ch < 3; ch++) expect(three.y[p * 3 + ch]).toBe(three.x[p * 3 + ch] > 0.5 ? 1 : 0);
  });
});
