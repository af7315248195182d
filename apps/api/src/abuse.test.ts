// Abuse drills against the real stack: requests that used to crash or starve the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { startApi, tinySpec, type RunningApi } from '../../../test/harness.ts';
import { snapshotStores } from '../../../test/snapshot.ts';

const DATASET = 'abuse-fixture';
const range = <T,>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

/** The sweep from the issue: 50 x 50 x 50 x 50 x 10 = 62.5 million experiments in 1,458 bytes. */
function hugeSweep() {
  const body = {
    name: '',
    base: { dataset: DATASET, model: 'unet' },
    grid: {
      epochs: range(50, (i) => i + 1),
      lr: range(50, (i) => (i + 1) / 10000),
      augmentationP: range(50, (i) => Math.round((i / 49) * 1000) / 1000),
      seed: range(50, (i) => 100_000 + i),
      batchSize: range(10, (i) => i + 1),
    },
  };
  body.name = 'abuse-'.padEnd(1458 - JSON.stringify(body).length, 'x');
  return body;
}

describe('abuse drills', () => {
  let api: RunningApi;
  let redis: Redis;
  beforeAll(async () => {
    await prisma().dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi();
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await api.close();
    redis.disconnect();
  });

  it('the 1,458-byte sweep of 62.5 million runs gets a 400 naming /grid in under 100 ms, heap growth under 50 MB', async () => {
    const body = hugeSweep();
    expect(JSON.stringify(body).length).toBe(1458);
    // Warm the route (schema compilation, connection pool) so only this request is measured.
    expect((await api.request('POST', '/sweeps', { ...body, grid: { lr: [0.1, 0.1] } })).status).toBe(400);
    const before = await snapshotStores(redis);
    const heap0 = process.memoryUsage().heapUsed;
    const total0 = v8.getHeapStatistics().total_heap_size;
    const t0 = performance.now();
    const res = await api.request('POST', '/sweeps', body);
    const ms = performance.now() - t0;
    const heapGrowthMB = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    const committedGrowthMB = (v8.getHeapStatistics().total_heap_size - total0) / 2 ** 20;
    console.log(`huge sweep: ${res.status} in ${ms.toFixed(1)} ms, heap +${heapGrowthMB.toFixed(1)} MB, committed heap +${committedGrowthMB.toFixed(1)} MB`);
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ field: '/grid', message: expect.stringContaining('expands to 62500000 experiments') }]);
    expect(res.body.message).toContain('/grid');
    expect(ms).toBeLessThan(100);
    expect(heapGrowthMB).toBeLessThan(50);
    expect(committedGrowthMB).toBeLessThan(50);
    expect(await snapshotStores(redis)).toEqual(before);
  });

  it('a value listed twice in a grid is a 400 naming /grid/<field>', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'dup', base: tinySpec(DATASET), grid: { seed: [1, 2, 1] } });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('/grid/seed/2');
  });

  it('an over-budget spec gets a 400 with its estimate and the limit, naming the field, and nothing is written', async () => {
    const before = await snapshotStores(redis);
    const res = await api.request('POST', '/experiments', tinySpec(DATASET, { tileSize: 1024, batchSize: 64, baseFilters: 128 }));
    expect(res.status).toBe(400);
    expect(res.body.issues[0].field).toBe('/tileSize');
    expect(res.body.message).toMatch(/tileSize.*estimated [\d,]+ MB.*the limit is 32,768 MB \(MAX_STEP_MEMORY_MB\)/);
    const long = await api.request('POST', '/experiments', tinySpec(DATASET, { epochs: 1000, stepsPerEpoch: 100_000, tileSize: 64, batchSize: 4 }));
    expect(long.status).toBe(400);
    expect(long.body.message).toMatch(/stepsPerEpoch.*1\.64e\+12 voxel-steps.*limit is 1\.00e\+12 \(MAX_VOXEL_STEPS\)/);
    const cell = await api.request('POST', '/sweeps', { name: 'big', base: tinySpec(DATASET, { tileSize: 1024, baseFilters: 128 }), grid: { batchSize: [2, 64] } });
    expect(cell.status).toBe(400);
    expect(cell.body.message).toContain('/base/tileSize');
    expect(await snapshotStores(redis)).toEqual(before);
  });
});

describe('per-user limit on queued and running experiments', () => {
  let api: RunningApi;
  beforeAll(async () => {
    await prisma().dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi({ MAX_ACTIVE_PER_KEY: '2' });
  });
  afterAll(() => api.close());

  it('answers 429 beyond the limit, for experiments and sweeps, and counts only active ones', async () => {
    const a = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'quota-a' }));
    const b = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'quota-b' }));
    expect([a.status, b.status]).toEqual([201, 201]);
    const c = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'quota-c' }));
    expect(c.status).toBe(429);
    expect(c.body.message).toContain('you have 2 queued or running experiments over all your keys and ask for 1 more; at most 2 (MAX_ACTIVE_PER_KEY)');
    // Another key of the same user buys no more quota.
    const { key: second } = await api.app.apiKeys.create('quota-second-key', { userId: api.userId });
    const viaSecond = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'quota-c2' }), { auth: false, headers: { authorization: `Bearer ${second}` } });
    expect(viaSecond.status).toBe(429);
    expect((await api.request('DELETE', `/experiments/${a.body.id}`)).status).toBe(200);
    const sweep = await api.request('POST', '/sweeps', { name: 'quota', base: tinySpec(DATASET), grid: { seed: [1, 2] } });
    expect(sweep.status).toBe(429);
    expect(sweep.body.message).toContain('ask for 2 more');
    const d = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'quota-d' }));
    expect(d.status).toBe(201);
    for (const id of [b.body.id, d.body.id]) expect((await api.request('DELETE', `/experiments/${id}`)).status).toBe(200);
  });

  it('holds under concurrent requests of one user', async () => {
    const results = await Promise.all(range(6, (i) => api.request('POST', '/experiments', tinySpec(DATASET, { name: `race-${i}` }))));
    expect(results.filter((r) => r.status === 201)).toHaveLength(2);
    expect(results.filter((r) => r.status === 429)).toHaveLength(4);
    for (const r of results.filter((x) => x.status === 201)) await api.request('DELETE', `/experiments/${r.body.id}`);
  });
});

describe('prediction budget', () => {
  it('refuses a prediction over MAX_PREDICTION_VOXEL_PASSES with the estimate, naming the option', async () => {
    const db = prisma();
    const ds = await db.dataset.upsert({ where: { name: 'abuse-predict' }, update: {}, create: { name: 'abuse-predict' } });
    await db.volume.upsert({
      where: { datasetId_name: { datasetId: ds.id, name: 'big' } },
      update: {},
      create: { datasetId: ds.id, name: 'big', role: 'public_test', imageKey: 'none/big', dtype: 'uint16', depth: 100, height: 100, width: 100, voxelSizeUm: [1, 1, 1], stats: {}, contentHash: 'abuse' },
    });
    const experiment = await db.experiment.create({
      data: { spec: tinySpec(DATASET), datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 2, lr: 0.003, augmentationP: 0.2, batchSize: 2, seed: 0, status: 'succeeded' },
    });
    await db.checkpoint.create({ data: { experimentId: experiment.id, epoch: 1, s3Key: 'none', bytes: 1, sha256: 'x', isBest: true } });
    const api = await startApi({ MAX_PREDICTION_VOXEL_PASSES: String(3 * 10 ** 6) });
    try {
      const before = await db.prediction.count();
      const res = await api.request('POST', `/experiments/${experiment.id}/predictions`, { dataset: 'abuse-predict', options: { axes: ['xy', 'xz', 'yz'], tta: true } });
      expect(res.status).toBe(400);
      expect(res.body.issues[0].field).toBe('body/options/tta');
      expect(res.body.message).toContain('1.20e+7 voxel passes (1.00e+6 voxels x 3 axes x 4 TTA passes); the limit is 3.00e+6 (MAX_PREDICTION_VOXEL_PASSES)');
      expect(await db.prediction.count()).toBe(before);
    } finally {
      await api.close();
      await db.experiment.delete({ where: { id: experiment.id } });
    }
  });
});
