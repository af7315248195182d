import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma, type Prisma } from '@capillary/db';
import { getObject, predictionMaskKey } from '@capillary/storage';
import { generateSyntheticVolume, normalizeSlice, previewKey, sliceWindow, type VolumeStats, ZarrSliceWriter } from '@capillary/volumes';
import { VolumeRegistry } from '@capillary/registry';
import { importVolume, syntheticSource } from '@capillary/volumes/importers';
import { resetRateLimits, startApi, type RunningApi } from '../../../../test/harness.ts';

// Not square on any pair of axes, so a swapped axis or a transposed slice cannot pass.
const SHAPE: [number, number, number] = [10, 36, 52];
const DATASET = 'volume-routes';
const SEED = 11;
let api: RunningApi;
let volumeId: string;
let predictionId: string;
let experimentId: string;
let storedStats: VolumeStats;
// Volume i is made from seed * 1000 + i, as the demo's datasets are; the validation volume is the last.
const truth = generateSyntheticVolume({ shape: SHAPE, seed: SEED * 1000 + 1 });
const labels = truth.labelData!;
// The "prediction": the truth shifted one voxel along x, so it has TP, FP and FN on every slice.
const predicted = new Uint8Array(labels.length);
for (let i = 0; i < labels.length; i++) predicted[i] = i % SHAPE[2] > 0 ? labels[i - 1] : 0;

async function tile(route: string) {
  const res = await api.fetch(route);
  return { status: res.status, width: Number(res.headers.get('x-slice-width')), height: Number(res.headers.get('x-slice-height')), bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** A finished prediction of `mask` for the validation volume, stored the way the prediction worker stores one. */
async function storePrediction(mask: Uint8Array) {
  const id = randomUUID();
  const maskKey = predictionMaskKey(id, 1, 'synthetic_01');
  const writer = await ZarrSliceWriter.create(maskKey, { shape: SHAPE, dtype: 'uint8' });
  const [, Y, X] = SHAPE;
  for (let z = 0; z < SHAPE[0]; z++) await writer.write(mask.subarray(z * Y * X, (z + 1) * Y * X));
  await writer.close();
  const outputs = [{ volumeId, volume: 'synthetic_01', role: 'validation', maskKey, shape: SHAPE, foregroundVoxels: mask.reduce((a, v) => a + v, 0), surfaceDice: 0.5, dice: 0.6 }];
  await prisma().prediction.create({ data: { id, experimentId, datasetName: DATASET, status: 'succeeded', outputs: outputs as unknown as Prisma.InputJsonValue, finishedAt: new Date() } });
  return { id, maskKey };
}

beforeAll(async () => {
  const catalog = new VolumeRegistry(prisma());
  for (const [i, role] of (['train', 'validation'] as const).entries()) {
    await importVolume(syntheticSource({ shape: SHAPE, seed: SEED * 1000 + i, name: `synthetic_${String(i).padStart(2, '0')}` }), { catalog, dataset: DATASET, role });
  }
  const ds = await prisma().dataset.findUniqueOrThrow({ where: { name: DATASET }, include: { volumes: true } });
  const validation = ds.volumes.find((v) => v.role === 'validation')!;
  volumeId = validation.id;
  storedStats = validation.stats as unknown as VolumeStats;
  api = await startApi();
  experimentId = (await prisma().experiment.create({
    data: { name: 'viewer fixture', spec: {}, datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.001, augmentationP: 0, batchSize: 1, seed: 0, status: 'succeeded' },
  })).id;
  predictionId = (await storePrediction(predicted)).id;
});

afterAll(async () => {
  await api?.close();
});

describe('GET /volumes/:id', () => {
  it('describes the volume and lists the predictions that cover it', async () => {
    const res = await api.request('GET', `/volumes/${volumeId}`);
    expect(res.status).toBe(200);
    expect(res.body.volume).toMatchObject({ id: volumeId, depth: 10, height: 36, width: 52, hasLabels: true, datasetName: DATASET, role: 'validation' });
    expect(res.body.predictions).toContainEqual(expect.objectContaining({ id: predictionId, experimentName: 'viewer fixture', status: 'succeeded', surfaceDice: 0.5, dice: 0.6, foregroundVoxels: predicted.reduce((a, v) => a + v, 0) }));
  });

  it('404 for an unknown volume', async () => {
    expect((await api.request('GET', `/volumes/${randomUUID()}`)).status).toBe(404);
  });
});

describe('GET /volumes/:id/slices/:axis/:index', () => {
  it('xy image: the z slice normalised by the stored percentiles to 0-255, rows x cols = height x width', async () => {
    const t = await tile(`/volumes/${volumeId}/slices/xy/4?layer=image`);
    expect(t.status).toBe(200);
    expect([t.width, t.height]).toEqual([52, 36]);
    const want = normalizeSlice(sliceWindow(truth.imageData, SHAPE, 'z', 4, 1), storedStats);
    expect(storedStats.p995).toBeGreaterThan(storedStats.p005);
    expect(t.bytes.length).toBe(want.length);
    for (let i = 0; i < want.length; i += 97) expect(t.bytes[i]).toBe(Math.round(want[i] * 255));
  });

  it('xz and yz labels are the y and x planes, 0/1', async () => {
    const xz = await tile(`/volumes/${volumeId}/slices/xz/17?layer=label`);
    expect([xz.width, xz.height]).toEqual([52, 10]);
    expect(Array.from(xz.bytes)).toEqual(Array.from(sliceWindow(labels, SHAPE, 'y', 17, 1)));
    const yz = await tile(`/volumes/${volumeId}/slices/yz/30?layer=label`);
    expect([yz.width, yz.height]).toEqual([36, 10]);
    expect(Array.from(yz.bytes)).toEqual(Array.from(sliceWindow(labels, SHAPE, 'x', 30, 1)));
    expect(labels.some((v) => v === 1)).toBe(true);
  });

  it('prediction layer reads the stored mask of that prediction', async () => {
    const t = await tile(`/volumes/${volumeId}/slices/xy/5?layer=prediction&predictionId=${predictionId}`);
    expect(t.status).toBe(200);
    expect(Array.from(t.bytes)).toEqual(Array.from(sliceWindow(predicted, SHAPE, 'z', 5, 1)));
  });

  it('says what is wrong: index past the end, unknown axis or layer, missing or unknown prediction', async () => {
    const past = await api.request('GET', `/volumes/${volumeId}/slices/xy/10?layer=image`);
    expect(past.status).toBe(400);
    expect(past.body.issues).toEqual([{ field: 'params/index', message: 'must be less than 10' }]);
    expect((await api.request('GET', `/volumes/${volumeId}/slices/zz/0?layer=image`)).status).toBe(400);
    const layer = await api.request('GET', `/volumes/${volumeId}/slices/xy/0?layer=mask`);
    expect(layer.status).toBe(400);
    expect(layer.body.message).toContain('layer');
    const noId = await api.request('GET', `/volumes/${volumeId}/slices/xy/0?layer=prediction`);
    expect(noId.status).toBe(400);
    expect(noId.body.issues[0].field).toBe('querystring/predictionId');
    expect((await api.request('GET', `/volumes/${volumeId}/slices/xy/0?layer=prediction&predictionId=${randomUUID()}`)).status).toBe(404);
  });
});

describe('GET /volumes/:id/volume3d', () => {
  it('a NIfTI-1 uint8 file of the labels max-pooled to at most `size` per side', async () => {
    const t = await tile(`/volumes/${volumeId}/volume3d?layer=label&size=16`);
    expect(t.status).toBe(200);
    const v = new DataView(t.bytes.buffer);
    expect(v.getInt32(0, true)).toBe(348);
    expect(String.fromCharCode(...t.bytes.subarray(344, 347))).toBe('n+1');
    // factor ceil(52 / 16) = 4: dims x, y, z = 13, 9, 3
    expect([1, 2, 3].map((i) => v.getInt16(40 + 2 * i, true))).toEqual([13, 9, 3]);
    expect(v.getInt16(70, true)).toBe(2);
    const data = t.bytes.subarray(352);
    expect(data.length).toBe(13 * 9 * 3);
    const [Z, Y, X] = SHAPE;
    const want = new Uint8Array(data.length);
    for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) if (labels[(z * Y + y) * X + x]) want[(Math.floor(z / 4) * 9 + Math.floor(y / 4)) * 13 + Math.floor(x / 4)] = 1;
    expect(Array.from(data)).toEqual(Array.from(want));
  });

  it('the prediction layer needs a prediction that covers the volume', async () => {
    expect((await tile(`/volumes/${volumeId}/volume3d?layer=prediction&predictionId=${predictionId}&size=32`)).status).toBe(200);
    expect((await api.request('GET', `/volumes/${volumeId}/volume3d?layer=prediction`)).status).toBe(400);
  });
});

describe('viewer caches and limits', () => {
  const counters = () => {
    const v = api.app.viewer;
    return { slices: v.slices.computations, files: v.files.computations, previews: v.previews.computations, chunks: v.chunks.computations, scans: v.scans };
  };
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

  it('label layer: a random predictionId or another size with the same pooling factor is the same cached file', async () => {
    // ceil(52 / size) is 3 for every size from 18 to 25.
    const first = await tile(`/volumes/${volumeId}/volume3d?layer=label&size=18`);
    expect(first.status).toBe(200);
    const before = counters();
    for (const size of [19, 21, 25]) {
      const t = await tile(`/volumes/${volumeId}/volume3d?layer=label&size=${size}&predictionId=${randomUUID()}`);
      expect(t.status).toBe(200);
      expect(same(t.bytes, first.bytes)).toBe(true);
    }
    expect(counters()).toEqual(before);
    const other = await tile(`/volumes/${volumeId}/volume3d?layer=label&size=26`);
    expect(other.bytes.length).not.toBe(first.bytes.length);
    expect(counters().files).toBe(before.files + 1);
  });

  it('an unknown prediction is a 404 before any read or computation', async () => {
    const before = counters();
    for (const route of [
      `/volumes/${volumeId}/volume3d?layer=prediction&predictionId=${randomUUID()}`,
      `/volumes/${volumeId}/slices/xz/3?layer=prediction&predictionId=${randomUUID()}`,
    ]) {
      const res = await api.request('GET', route);
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/^prediction .* not found$/);
    }
    expect(counters()).toEqual(before);
  });

  it('identical requests in flight share one computation; the preview is scanned once and stored beside the mask', async () => {
    const mask = new Uint8Array(labels.length);
    for (let i = 0; i < mask.length; i += 7) mask[i] = 1;
    const fresh = await storePrediction(mask);
    const before = counters();
    const files = await Promise.all(Array.from({ length: 12 }, () => tile(`/volumes/${volumeId}/volume3d?layer=prediction&predictionId=${fresh.id}&size=32`)));
    expect(files.every((t) => t.status === 200 && same(t.bytes, files[0].bytes))).toBe(true);
    const slices = await Promise.all(Array.from({ length: 12 }, () => tile(`/volumes/${volumeId}/slices/yz/9?layer=prediction&predictionId=${fresh.id}`)));
    expect(slices.every((t) => t.status === 200)).toBe(true);
    expect(Array.from(slices[0].bytes)).toEqual(Array.from(sliceWindow(mask, SHAPE, 'x', 9, 1)));
    const after = counters();
    expect(after.scans - before.scans).toBe(1);
    expect(after.previews - before.previews).toBe(1);
    expect(after.files - before.files).toBe(1);
    expect(after.slices - before.slices).toBe(1);

    // factor ceil(52 / 32) = 2: the file is the mask max-pooled by 2.
    const data = files[0].bytes.subarray(352);
    const [Z, Y, X] = SHAPE;
    const [oz, oy, ox] = [5, 18, 26];
    const want = new Uint8Array(oz * oy * ox);
    for (let z = 0; z < Z; z++) for (let y = 0; y < Y; y++) for (let x = 0; x < X; x++) if (mask[(z * Y + y) * X + x]) want[(Math.floor(z / 2) * oy + Math.floor(y / 2)) * ox + Math.floor(x / 2)] = 1;
    expect(same(data, want)).toBe(true);

    // Stored in S3 beside the mask: a server with empty caches answers without scanning.
    expect((await getObject(previewKey(fresh.maskKey, SHAPE)))?.length).toBe(Z * Y * X);
    const second = await startApi();
    try {
      const res = await second.fetch(`/volumes/${volumeId}/volume3d?layer=prediction&predictionId=${fresh.id}&size=32`);
      expect(res.status).toBe(200);
      expect(same(new Uint8Array(await res.arrayBuffer()), files[0].bytes)).toBe(true);
      expect(second.app.viewer.scans).toBe(0);
    } finally {
      await second.close();
    }
  });

  it('per-route rate limits on slices and 3D volumes', async () => {
    await resetRateLimits();
    const limited = await startApi({ VOLUME3D_RATE_LIMIT_MAX: '2', VIEWER_RATE_LIMIT_MAX: '3' });
    try {
      const statuses = async (route: string, n: number) => {
        const out: { status: number; limit: string | null }[] = [];
        for (let i = 0; i < n; i++) {
          const res = await limited.fetch(route);
          await res.arrayBuffer();
          out.push({ status: res.status, limit: res.headers.get('x-ratelimit-limit') });
        }
        return out;
      };
      const v3d = await statuses(`/volumes/${volumeId}/volume3d?layer=label&size=16`, 4);
      expect(v3d.every((r) => r.limit === '2')).toBe(true);
      expect(v3d.filter((r) => r.status === 200).length).toBeLessThanOrEqual(2);
      expect(v3d.at(-1)!.status).toBe(429);
      const slices = await statuses(`/volumes/${volumeId}/slices/xy/1?layer=label`, 5);
      expect(slices.every((r) => r.limit === '3')).toBe(true);
      expect(slices.at(-1)!.status).toBe(429);
      expect((await limited.fetch("/health")).status).toBe(200);
    } finally {
      await limited.close();
      await resetRateLimits();
    }
  });
  it('never serves the labels of a private-test volume, in slices or in 3D', async () => {
    const ds = await prisma().dataset.findUniqueOrThrow({ where: { name: DATASET }, include: { volumes: true } });
    const train = ds.volumes.find((v) => v.role === 'train')!;
    await prisma().volume.update({ where: { id: train.id }, data: { role: 'private_test' } });
    try {
      const info = (await api.fetch(`/volumes/${train.id}`).then((r) => r.json())) as { volume: unknown };
      expect(info.volume).toMatchObject({ role: 'private_test', hasLabels: false });
      for (const route of [`/volumes/${train.id}/slices/xy/1?layer=label`, `/volumes/${train.id}/volume3d?layer=label&size=16`]) {
        const res = await api.fetch(route);
        expect(res.status, route).toBe(403);
        expect(((await res.json()) as { message: string }).message).toBe(`labels of volume ${train.id} are private-test labels; the API never serves them`);
      }
      expect((await tile(`/volumes/${train.id}/slices/xy/1?layer=image`)).status).toBe(200);
    } finally {
      await prisma().volume.update({ where: { id: train.id }, data: { role: 'train' } });
    }
  });
});
