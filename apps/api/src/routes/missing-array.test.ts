import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { startApi, type RunningApi } from '../../../../test/harness.ts';

describe('a registered volume whose arrays are missing from S3', () => {
  let api: RunningApi;
  let volumeId: string;
  let datasetId: string;
  beforeAll(async () => {
    api = await startApi();
    datasetId = (await prisma().dataset.create({ data: { name: `missing-${randomUUID().slice(0, 8)}` } })).id;
    const prefix = `volumes/${randomUUID()}`;
    volumeId = (await prisma().volume.create({
      data: { datasetId, name: 'gone', role: 'train', imageKey: `${prefix}/image`, labelKey: `${prefix}/label`, dtype: 'uint8', depth: 4, height: 32, width: 32, voxelSizeUm: [1, 1, 1], stats: { p1: 0, p99: 255, mean: 0, std: 1 }, contentHash: randomUUID() },
    })).id;
  });
  afterAll(async () => {
    await prisma().dataset.delete({ where: { id: datasetId } });
    await api.close();
  });

  it('answers 404 saying the stored array is missing, not 500', async () => {
    for (const route of [`/volumes/${volumeId}/slices/xy/1?layer=image`, `/volumes/${volumeId}/slices/yz/3?layer=label`]) {
      const res = await api.request('GET', route);
      expect(res.status, `${route}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(res.body.message).toMatch(/stored array .* missing/);
    }
  });
});
