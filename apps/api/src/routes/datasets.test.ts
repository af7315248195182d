import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { deletePrefix, ensureBucket } from '@capillary/storage';
import { generateSyntheticVolume, ZarrSliceWriter } from '@capillary/volumes';
import { startApi, type RunningApi } from '../../../../test/harness.ts';

describe('POST /datasets/:name/volumes registers arrays uploaded before', () => {
  let api: RunningApi;
  const prefix = `uploads/${randomUUID()}`;
  const dataset = `registered-${Date.now()}`;
  const shape: [number, number, number] = [6, 20, 24];
  const volume = generateSyntheticVolume({ shape, seed: 3 });
  beforeAll(async () => {
    await ensureBucket();
    api = await startApi();
    const write = async (key: string, dtype: 'uint8' | 'uint16', data: Uint8Array | Uint16Array, s = shape) => {
      const w = await ZarrSliceWriter.create(key, { shape: s, dtype });
      for (let z = 0; z < s[0]; z++) await w.write(data.subarray(z * s[1] * s[2], (z + 1) * s[1] * s[2]));
      await w.close();
    };
    await write(`${prefix}/image`, 'uint16', volume.imageData);
    await write(`${prefix}/label`, 'uint8', volume.labelData!);
    await write(`${prefix}/small-label`, 'uint8', volume.labelData!.subarray(0, 3 * 20 * 24), [3, 20, 24]);
  });
  afterAll(async () => {
    await api.close();
    await deletePrefix(`${prefix}/`);
  });

  it('reads shape and dtype from the arrays, computes the statistics, and registers the volume', async () => {
    const res = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'uploaded', role: 'validation', imageKey: `${prefix}/image`, labelKey: `${prefix}/label` });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ name: 'uploaded', depth: 6, height: 20, width: 24, dtype: 'uint16' });
    expect(res.body.stats.p005).toBe(volume.stats.p005);
    expect(res.body.stats.p995).toBe(volume.stats.p995);
    expect(res.body.stats.mean).toBeCloseTo(volume.stats.mean, 6);
    expect(res.body.stats.foregroundFraction).toBeCloseTo(volume.stats.foregroundFraction!, 9);
    const listed = await api.request('GET', '/datasets');
    expect(listed.body.items.find((d: { name: string }) => d.name === dataset).volumes).toHaveLength(1);
    expect((await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'uploaded', imageKey: `${prefix}/image` })).status).toBe(409);
  });

  it('refuses keys without an array, labels of another shape, and bad fields, registering nothing', async () => {
    const before = await prisma().volume.count();
    const missing = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'x', imageKey: `${prefix}/nothing` });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain('body/imageKey');
    const mismatch = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'y', imageKey: `${prefix}/image`, labelKey: `${prefix}/small-label` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.message).toContain('body/labelKey');
    const badRole = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'z', role: 'test', imageKey: `${prefix}/image` });
    expect(badRole.status).toBe(400);
    expect(badRole.body.message).toContain('body/role');
    expect((await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'z', imageKey: `${prefix}/image` }, { auth: false })).status).toBe(401);
    expect(await prisma().volume.count()).toBe(before);
  });
});
