import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { firstDifference } from './test-helpers.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { deletePrefix, ensureBucket, listKeys } from '@capillary/storage';
import { ChunkCache } from './chunk-cache.ts';
import { sliceWindow } from './memory.ts';
import { generateSyntheticVolume } from './synthetic.ts';
import { ZarrSliceWriter } from './zarr-array.ts';
import { ZarrVolume } from './zarr-volume.ts';

const hasS3 = !!process.env.S3_ENDPOINT;
if (!hasS3) console.warn('zarr-volume tests skipped: no S3_ENDPOINT (run without CAPILLARY_NO_STACK=1 to start the local stack)');

describe.runIf(hasS3)('ZarrVolume over S3', () => {
  const prefix = `test/zarr-volume/${randomUUID()}`;
  const cacheDir = mkdtempSync(path.join(tmpdir(), 'capillary-cache-'));
  afterAll(async () => {
    await deletePrefix(prefix);
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it('writes slices and reads back any window and box exactly, through the disk cache', async () => {
    await ensureBucket();
    const shape: [number, number, number] = [37, 45, 70]; // not multiples of the chunk
    const mem = generateSyntheticVolume({ shape, seed: 2 });
    const img = await ZarrSliceWriter.create(`${prefix}/image`, { shape, dtype: 'uint16', chunkShape: [16, 16, 16] });
    const lab = await ZarrSliceWriter.create(`${prefix}/label`, { shape, dtype: 'uint8', chunkShape: [16, 16, 16] });
    for (let z = 0; z < shape[0]; z++) {
      await img.write(mem.imageData.subarray(z * 45 * 70, (z + 1) * 45 * 70));
      await lab.write(mem.labelData!.subarray(z * 45 * 70, (z + 1) * 45 * 70));
    }
    expect((await img.close()).compressionRatio).toBeGreaterThan(1);
    expect((await lab.close()).compressionRatio).toBeGreaterThan(2);
    const source = { id: 'v', imageKey: `${prefix}/image`, labelKey: `${prefix}/label`, dtype: 'uint16', depth: 37, height: 45, width: 70, stats: mem.stats };
    const cache = new ChunkCache(cacheDir, 64 * 1024 * 1024);
    for (const round of ['cold', 'warm']) {
      const v = new ZarrVolume(source, { cache, memoryCacheMB: 0 });
      for (const axis of ['z', 'y', 'x'] as const) {
        expect(firstDifference(await v.readImage(axis, 3, 5), sliceWindow(mem.imageData, shape, axis, 3, 5)), `${round} ${axis}`).toBe('equal');
        expect(firstDifference(await v.readLabel(axis, 30, 2), sliceWindow(mem.labelData!, shape, axis, 30, 2))).toBe('equal');
      }
      const box = { z0: 5, z1: 33, y0: 1, y1: 44, x0: 15, x1: 69 };
      expect(firstDifference(await v.readImageBox(box), await mem.readImageBox(box))).toBe('equal');
      // After the cold pass, remove the chunks from S3: the warm pass must come from the disk cache.
      if (round === 'cold') {
        await deletePrefix(`${prefix}/image/c/`);
        await deletePrefix(`${prefix}/label/c/`);
      }
    }
    expect(cache.size).toBeGreaterThan(0);
    expect(await listKeys(`${prefix}/image/c/`)).toEqual([]);
  });
});
