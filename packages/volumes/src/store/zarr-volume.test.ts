import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { firstDifference } from '../test-helpers.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { deletePrefix, ensureBucket, listKeys } from '@capillary/storage';
import { ChunkCache } from './chunk-cache.ts';
import { sliceWindow } from './memory.ts';
import { generateSyntheticVolume } from '../synthetic/synthetic.ts';
import { ZarrSliceWriter } from './zarr-array.ts';
import pLimit, { type LimitFunction } from 'p-limit';
import { ComputedCache } from './computed-cache.ts';
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

  it('fetches the chunks of a window through its limiter, never more at once than it allows, each once', async () => {
    const shape: [number, number, number] = [40, 48, 56];
    const mem = generateSyntheticVolume({ shape, seed: 5 });
    const key = `${prefix}/limited`;
    const w = await ZarrSliceWriter.create(key, { shape, dtype: 'uint16', chunkShape: [8, 8, 8] });
    for (let z = 0; z < shape[0]; z++) await w.write(mem.imageData.subarray(z * 48 * 56, (z + 1) * 48 * 56));
    await w.close();
    const limit = pLimit(3);
    let calls = 0;
    let running = 0;
    let peak = 0;
    const counted = ((fn: () => Promise<unknown>) => {
      calls++;
      return limit(async () => {
        peak = Math.max(peak, ++running);
        try {
          return await fn();
        } finally {
          running--;
        }
      });
    }) as unknown as LimitFunction;
    const memory = new ComputedCache<Uint8Array | Uint16Array>(64 * 2 ** 20);
    const source = { id: 'l', imageKey: key, dtype: 'uint16', depth: 40, height: 48, width: 56, stats: mem.stats };
    const v = new ZarrVolume(source, { cache: null, memory, fetchLimit: counted });
    // An x window crosses every chunk along z and y: 5 x 6 = 30 chunks, concurrently requested.
    const reads = await Promise.all([v.readImage('x', 20, 1), v.readImage('x', 21, 2)]);
    expect(firstDifference(reads[0], sliceWindow(mem.imageData, shape, 'x', 20, 1))).toBe('equal');
    expect(firstDifference(reads[1], sliceWindow(mem.imageData, shape, 'x', 21, 2))).toBe('equal');
    expect(calls).toBe(30);
    expect(peak).toBe(3);
    // Another reader sharing the decoded cache fetches nothing again.
    const again = new ZarrVolume(source, { cache: null, memory, fetchLimit: counted });
    expect(firstDifference(await again.readImage('x', 22, 1), sliceWindow(mem.imageData, shape, 'x', 22, 1))).toBe('equal');
    expect(calls).toBe(30);
  });
});
