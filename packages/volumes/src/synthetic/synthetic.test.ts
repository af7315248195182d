import { describe, expect, it } from 'vitest';
import { generateSyntheticVolume, syntheticSlices } from './synthetic.ts';

describe('synthetic kidneys', () => {
  it('are deterministic by seed, and differ between seeds', () => {
    const a = generateSyntheticVolume({ shape: [16, 40, 48], seed: 9 });
    const b = generateSyntheticVolume({ shape: [16, 40, 48], seed: 9 });
    const c = generateSyntheticVolume({ shape: [16, 40, 48], seed: 10 });
    expect(b.imageData).toEqual(a.imageData);
    expect(b.labelData).toEqual(a.labelData);
    expect(c.imageData).not.toEqual(a.imageData);
  });

  it('streams the same slices it builds in memory', () => {
    const v = generateSyntheticVolume({ shape: [12, 32, 32], seed: 3 });
    for (const s of syntheticSlices({ shape: [12, 32, 32], seed: 3 })) {
      expect(s.image).toEqual(v.imageData.subarray(s.z * 1024, (s.z + 1) * 1024));
      expect(s.label).toEqual(v.labelData!.subarray(s.z * 1024, (s.z + 1) * 1024));
    }
  });

  it('has vessels, darker than the tissue around them, and sparse labels when asked', () => {
    const shape: [number, number, number] = [48, 96, 96];
    const dense = generateSyntheticVolume({ shape, seed: 4 });
    const sparse = generateSyntheticVolume({ shape, seed: 4, labelledFraction: 0.5 });
    const fg = dense.stats.foregroundFraction!;
    expect(fg).toBeGreaterThan(0.001);
    expect(fg).toBeLessThan(0.05);
    expect(sparse.stats.foregroundFraction!).toBeLessThan(fg);
    expect(sparse.imageData).toEqual(dense.imageData); // same vessels, fewer of them labelled
    let inV = 0, nV = 0, all = 0;
    const img = dense.imageData, lab = dense.labelData!;
    for (let i = 0; i < img.length; i++) {
      all += img[i];
      if (lab[i]) { inV += img[i]; nV++; }
    }
    expect(inV / nV).toBeLessThan(all / img.length);
  });

  it('refuses to build a volume too large for memory', () => {
    expect(() => generateSyntheticVolume({ shape: [512, 1024, 1024], seed: 1 })).toThrow(/stream/);
  });
});
