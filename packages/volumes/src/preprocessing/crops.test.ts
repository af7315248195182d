import { describe, expect, it } from 'vitest';
import { boxSize, cropBox } from '../box.ts';
import { CroppedVolume } from './cropped-volume.ts';
import { chooseValidationCrops, cropDepth, MIN_CROP_DEPTH, scoredBox, type ValidationCrop } from './crops.ts';
import { MemoryVolume, sliceWindow } from '../store/memory.ts';
import { Rng } from '../rng.ts';
import { firstDifference } from '../test-helpers.ts';
import type { Box } from '../types.ts';

/** Vessels only in a corner block (z < 32, y < 48, x < 48) of a 64 x 96 x 96 volume: about 6% of it. */
function cornerVessels(id = 'v'): MemoryVolume {
  const shape: [number, number, number] = [64, 96, 96];
  const [Z, Y, X] = shape;
  const rng = Rng.of(5);
  const label = new Uint8Array(Z * Y * X);
  const image = new Uint16Array(Z * Y * X);
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) {
        const i = (z * Y + y) * X + x;
        if (z < 32 && y < 48 && x < 48 && (y % 6 < 2 || x % 7 < 2)) label[i] = 1;
        image[i] = 1000 + label[i] * 500 + Math.floor(rng.float() * 100);
      }
  return new MemoryVolume(id, shape, image, label);
}

/** Labelled voxels of a crop's scored box. */
const vesselsIn = (v: MemoryVolume, c: ValidationCrop) => cropBox(v.labelData!, v.shape, scoredBox(c)).reduce((s, x) => s + x, 0);

describe('validation crops', () => {
  const volume = cornerVessels();
  const options = { maxVoxels: 200_000, tileSize: 32, slices: 3, seed: 11 };

  it('are the same for a seed, and others for another seed', async () => {
    const a = await chooseValidationCrops([volume], options);
    const b = await chooseValidationCrops([volume], options);
    const c = await chooseValidationCrops([volume], { ...options, seed: 12 });
    expect(a).not.toBeNull();
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('hold at most the budget, halo planes included, and lie inside their volume', async () => {
    const crops = (await chooseValidationCrops([volume], options))!;
    const total = crops.reduce((s, c) => s + boxSize(c.box), 0);
    expect(crops.length).toBeGreaterThan(1);
    expect(total).toBeLessThanOrEqual(options.maxVoxels);
    for (const c of crops) {
      // One tile in y and x; the halo is a plane above and below (slices 3) where the volume has one.
      expect([c.box.y1 - c.box.y0, c.box.x1 - c.box.x0]).toEqual([32, 32]);
      expect(c.box.z1 - c.box.z0 - c.haloBefore - c.haloAfter).toBe(cropDepth(options));
      expect(c.haloBefore).toBe(Math.min(1, scoredBox(c).z0));
      expect(c.box.z0).toBeGreaterThanOrEqual(0);
      expect(c.box.z1).toBeLessThanOrEqual(64);
    }
    expect(cropDepth(options)).toBeGreaterThanOrEqual(MIN_CROP_DEPTH);
  });

  it('lean toward vessels: more vessel voxels than crops placed uniformly', async () => {
    // Crops of 16³, small beside the vessel block, so the vessel draws do not run out of room.
    const small = { ...options, tileSize: 16, maxVoxels: 100_000 };
    const biased = (await chooseValidationCrops([volume], small))!;
    const uniform = (await chooseValidationCrops([volume], { ...small, uniformShare: 1 }))!;
    expect(biased.length).toBeGreaterThan(10);
    const share = (crops: ValidationCrop[]) => crops.reduce((s, c) => s + vesselsIn(volume, c), 0) / crops.reduce((s, c) => s + boxSize(scoredBox(c)), 0);
    const whole = volume.labelData!.reduce((s, x) => s + x, 0) / volume.labelData!.length;
    expect(share(uniform)).toBeLessThan(2 * whole);
    expect(share(biased)).toBeGreaterThan(2 * share(uniform));
    // Some crops stay uniform, so background errors are scored too.
    expect(biased.some((c) => vesselsIn(volume, c) === 0)).toBe(true);
  });

  it('are none when the labelled volumes fit in the budget whole', async () => {
    const voxels = 64 * 96 * 96;
    expect(await chooseValidationCrops([volume], { ...options, maxVoxels: voxels })).toBeNull();
    expect(await chooseValidationCrops([volume], { ...options, maxVoxels: voxels - 1 })).not.toBeNull();
    // An unlabelled volume is never validated, so it does not count toward the budget.
    const unlabelled = new MemoryVolume('u', [64, 96, 96], volume.imageData);
    expect(await chooseValidationCrops([volume, unlabelled], { ...options, maxVoxels: voxels })).toBeNull();
  });

  it('spread over volumes in proportion to their size, never onto an unlabelled one', async () => {
    const small = new MemoryVolume('s', [16, 48, 48], new Uint16Array(16 * 48 * 48).fill(1000), new Uint8Array(16 * 48 * 48));
    const unlabelled = new MemoryVolume('u', [64, 96, 96], volume.imageData);
    const crops = (await chooseValidationCrops([unlabelled, volume, small], { ...options, maxVoxels: 400_000 }))!;
    const per = [0, 1, 2].map((i) => crops.filter((c) => c.volume === i).length);
    expect(per[0]).toBe(0);
    expect(per[1]).toBeGreaterThan(per[2]);
    // The small volume (16 planes) is shorter than a crop's depth: its crops take all its planes.
    for (const c of crops.filter((c) => c.volume === 2)) expect([c.box.z0, c.box.z1]).toEqual([0, 16]);
  });
});

describe('CroppedVolume', () => {
  const volume = cornerVessels();
  const box: Box = { z0: 3, z1: 11, y0: 20, y1: 52, x0: 40, x1: 64 };
  const crop = new CroppedVolume(volume, box);
  const image = cropBox(volume.imageData, volume.shape, box);
  const label = cropBox(volume.labelData!, volume.shape, box);

  it('reads windows along every axis as a volume of the box would', async () => {
    expect(crop.shape).toEqual([8, 32, 24]);
    expect(crop.stats).toBe(volume.stats);
    for (const [axis, start, count] of [['z', 2, 3], ['y', 5, 4], ['x', 0, 24]] as const) {
      expect(firstDifference(await crop.readImage(axis, start, count), sliceWindow(image, crop.shape, axis, start, count)), axis).toBe('equal');
      expect(firstDifference(await crop.readLabel(axis, start, count), sliceWindow(label, crop.shape, axis, start, count)), axis).toBe('equal');
    }
    expect(firstDifference(await crop.readImageBox({ z0: 1, z1: 2, y0: 0, y1: 3, x0: 4, x1: 9 }), cropBox(image, crop.shape, { z0: 1, z1: 2, y0: 0, y1: 3, x0: 4, x1: 9 }))).toBe('equal');
    await expect(crop.readImage('z', 7, 2)).rejects.toThrow(RangeError);
  });
});
