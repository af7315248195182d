import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { queueKey } from '@capillary/queue';
import { prisma } from '@capillary/db';
import { startApi, type RunningApi } from '../../../test/harness.ts';
import { s3Objects, snapshotStores, tableCounts } from '../../../test/snapshot.ts';

const DATASET = 'validation-fixture';
const valid = { dataset: DATASET, model: 'unet', epochs: 3, lr: 0.001, augmentationP: 0.5 };

/** [what is wrong, body (or raw text), the field or phrase the message must name] */
const cases: [string, unknown, string][] = [
  ['model wrong type', { ...valid, model: 5 }, 'body/model'],
  ['model unknown name', { ...valid, model: 'resnet-unet' }, 'body/model'],
  ['model missing', { ...valid, model: undefined }, 'body/model'],
  ['epochs as string', { ...valid, epochs: '3' }, 'body/epochs'],
  ['epochs zero', { ...valid, epochs: 0 }, 'body/epochs'],
  ['epochs too many', { ...valid, epochs: 1001 }, 'body/epochs'],
  ['epochs fractional', { ...valid, epochs: 2.5 }, 'body/epochs'],
  ['epochs missing', { ...valid, epochs: undefined }, 'body/epochs'],
  ['lr zero', { ...valid, lr: 0 }, 'body/lr'],
  ['lr negative', { ...valid, lr: -0.1 }, 'body/lr'],
  ['lr above one', { ...valid, lr: 1.5 }, 'body/lr'],
  ['lr null', { ...valid, lr: null }, 'body/lr'],
  ['augmentationP above one', { ...valid, augmentationP: 1.01 }, 'body/augmentationP'],
  ['augmentationP negative', { ...valid, augmentationP: -0.5 }, 'body/augmentationP'],
  ['augmentationP boolean', { ...valid, augmentationP: true }, 'body/augmentationP'],
  ['batchSize zero', { ...valid, batchSize: 0 }, 'body/batchSize'],
  ['seed negative', { ...valid, seed: -1 }, 'body/seed'],
  ['slices even', { ...valid, slices: 4 }, '/slices'],
  ['unet25d with one slice', { ...valid, model: 'unet25d', slices: 1 }, '/slices'],
  ['tileSize not a multiple of 16', { ...valid, tileSize: 100 }, 'body/tileSize'],
  ['axes unknown', { ...valid, axes: ['xy', 'zz'] }, 'body/axes'],
  ['axes repeated', { ...valid, axes: ['xy', 'xy'] }, 'body/axes'],
  ['axes empty', { ...valid, axes: [] }, 'body/axes'],
  ['encoder unknown', { ...valid, encoder: 'vgg' }, 'body/encoder'],
  ['loss unknown', { ...valid, loss: 'mse' }, 'body/loss'],
  ['unknown field', { ...valid, learningRate: 0.1 }, 'body/learningRate'],
  ['name too long', { ...valid, name: 'x'.repeat(201) }, 'body/name'],
  ['huge notes', { ...valid, notes: 'n'.repeat(50_000) }, 'body/notes'],
  ['dataset missing', { ...valid, dataset: undefined }, 'body/dataset'],
  ['dataset with a slash', { ...valid, dataset: '../etc' }, 'body/dataset'],
  ['dataset that does not exist', { ...valid, dataset: 'no-such-dataset' }, 'dataset'],
  ['body is an array', [valid], 'body'],
  ['body is a string', 'just text', 'body'],
  ['bad JSON', { raw: '{"dataset": "x", ' }, 'JSON'],
  ['empty JSON object', {}, 'body/'],
  ['dropout too high', { ...valid, dropout: 0.95 }, 'body/dropout'],
  ['warm-up not shorter than training', { ...valid, warmupEpochs: 3 }, '/warmupEpochs'],
];

// Every table, every Redis key and every S3 object: a request that wrote anywhere shows up.
const snapshot = snapshotStores;

describe('POST /experiments rejects malformed bodies and writes nothing', () => {
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

  it.each(cases)('%s -> 4xx naming the problem', async (_what, body, names) => {
    const before = await snapshot(redis);
    const res =
      body && typeof body === 'object' && 'raw' in (body as object)
        ? await api.request('POST', '/experiments', undefined, { raw: (body as { raw: string }).raw })
        : typeof body === 'string'
          ? await api.request('POST', '/experiments', undefined, { raw: JSON.stringify(body) })
          : await api.request('POST', '/experiments', JSON.parse(JSON.stringify(body)));
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.message).toContain(names);
    expect(await snapshot(redis)).toEqual(before);
  });

  it('rejects a missing or wrong API key with 401 and writes nothing', async () => {
    const before = await snapshot(redis);
    expect((await api.request('POST', '/experiments', valid, { auth: false })).status).toBe(401);
    expect((await api.request('POST', '/experiments', valid, { auth: false, headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect(await snapshot(redis)).toEqual(before);
  });

  it('rejects a body over the size limit with 413', async () => {
    const res = await api.request('POST', '/experiments', undefined, { raw: JSON.stringify({ ...valid, notes: 'x'.repeat(2_000_000) }) });
    expect(res.status).toBe(413);
  });

  it('rejects a sweep grid naming bad values per field', async () => {
    const before = await snapshot(redis);
    const res = await api.request('POST', '/sweeps', { name: 's', base: { dataset: DATASET, model: 'unet', epochs: 2 }, grid: { lr: [0.001, -1] } });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('body/grid/lr/1');
    expect(await snapshot(redis)).toEqual(before);
  });

  it('a valid body is accepted, and the same Idempotency-Key returns the first experiment', async () => {
    const headers = { 'idempotency-key': `k-${Date.now()}` };
    const first = await api.request('POST', '/experiments', valid, { headers });
    expect(first.status).toBe(201);
    const again = await api.request('POST', '/experiments', valid, { headers });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    const job = await redis.exists(queueKey('training', first.body.id));
    expect(job).toBe(1);
    // Cancel so no worker in a later test trains it.
    expect((await api.request('DELETE', `/experiments/${first.body.id}`)).status).toBe(200);
    expect(await redis.exists(queueKey('training', first.body.id))).toBe(0);
  });
});

describe('validationVolumes must name volumes of the dataset', () => {
  it('rejects an unknown volume name with 400 naming the field', async () => {
    const api = await startApi();
    try {
      const res = await api.request('POST', '/experiments', { ...valid, validationVolumes: ['no-such-volume'] });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('validationVolumes');
      expect(res.body.message).toContain('no-such-volume');
    } finally {
      await api.close();
    }
  });
});

describe('when Redis is unreachable', () => {
  it('POST /experiments answers 503 and leaves no experiment row; /health says redis is down', async () => {
    const api = await startApi({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const before = { tables: await tableCounts(), s3: await s3Objects() };
      const res = await api.request('POST', '/experiments', valid);
      expect(res.status).toBe(503);
      expect(res.body.message).toMatch(/queue is not available/);
      expect({ tables: await tableCounts(), s3: await s3Objects() }).toEqual(before);
      const health = await api.request('GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ postgres: true, redis: false });
    } finally {
      await api.close();
    }
  });
});
