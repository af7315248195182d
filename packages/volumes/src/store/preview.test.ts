import { describe, expect, it } from 'vitest';
import { downsampleMax, poolPreview, previewBaseFactor, previewFactor, PREVIEW_MAX_SIDE } from './preview.ts';
import { sliceWindow } from './memory.ts';
import { firstDifference } from '../test-helpers.ts';

/** Sparse random 0/1 voxels, deterministic. */
function sparse(shape: [number, number, number], seed: number): Uint8Array {
  const out = new Uint8Array(shape[0] * shape[1] * shape[2]);
  let s = seed;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s % 997 === 0 ? 1 : 0;
  }
  return out;
}

describe('3D previews', () => {
  it('pools a stored preview further to exactly what pooling the whole array gives', async () => {
    const shape: [number, number, number] = [45, 70, 58];
    const data = sparse(shape, 3);
    const read = async (start: number, count: number) => sliceWindow(data, shape, 'z', start, count);
    const base = await downsampleMax(shape, 2, read);
    for (const k of [1, 2, 3, 5]) {
      const direct = await downsampleMax(shape, 2 * k, read);
      const pooled = await poolPreview(base, k);
      expect(pooled.shape).toEqual(direct.shape);
      expect(pooled.factor).toBe(2 * k);
      expect(firstDifference(pooled.data, direct.data), `k ${k}`).toBe('equal');
    }
    expect(base.data.some((v) => v === 1)).toBe(true);
  });

  it('chooses a multiple of the stored factor that keeps the longest side within the size', () => {
    // Up to 256 a side the stored preview is the volume itself: the factor is just ceil(side / size).
    expect(previewBaseFactor([10, 36, 52])).toBe(1);
    expect(previewFactor([10, 36, 52], 16)).toBe(4);
    // 512: stored at factor 2; a size of 160 wants 4 (ceil(512 / 160) = 4), 200 wants 3, which becomes 4.
    const big: [number, number, number] = [256, 512, 512];
    expect(previewBaseFactor(big)).toBe(2);
    expect(previewFactor(big, 256)).toBe(2);
    expect(previewFactor(big, 200)).toBe(4);
    expect(previewFactor(big, 16)).toBe(32);
    for (let size = 16; size <= PREVIEW_MAX_SIDE; size++) {
      for (const shape of [big, [2279, 1303, 912] as [number, number, number]]) {
        const f = previewFactor(shape, size);
        expect(f % previewBaseFactor(shape)).toBe(0);
        expect(Math.ceil(Math.max(...shape) / f)).toBeLessThanOrEqual(size);
      }
    }
  });
});
