import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { exportSlices } from './export.ts';
import { generateSyntheticVolume } from '../synthetic/synthetic.ts';
import { firstDifference } from '../test-helpers.ts';

describe('exportSlices', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'capillary-export-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const v = generateSyntheticVolume({ shape: [6, 30, 40], seed: 1, vesselDensity: 0.05 });

  it('writes labels as 0/255 PNGs named by slice, losslessly', async () => {
    const files = await exportSlices(v, { outDir: out, from: 2, to: 4 });
    expect(files.map((f) => path.basename(f))).toEqual(['0002.png', '0003.png']);
    const png = await sharp(files[1]).extractChannel(0).raw().toBuffer();
    const want = Uint8Array.from(v.labelData!.subarray(3 * 1200, 4 * 1200), (x) => x * 255);
    expect(firstDifference(new Uint8Array(png), want)).toBe('equal');
  });

  it('writes 16-bit images as 16-bit TIFFs', async () => {
    const [file] = await exportSlices(v, { outDir: out, from: 5, to: 6, which: 'image', format: 'tiff' });
    const raw = await sharp(file).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer();
    expect(firstDifference(new Uint16Array(raw.buffer, raw.byteOffset, 1200), v.imageData.subarray(5 * 1200))).toBe('equal');
  });

  it('rejects a slice range outside the volume', async () => {
    await expect(exportSlices(v, { outDir: out, from: 4, to: 9 })).rejects.toThrow(/outside volume .* of depth 6/);
  });
});
