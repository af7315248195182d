import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { deletePrefix, putObject } from '@capillary/storage';
import { RATE_LIMIT_PREFIX } from '@capillary/queue';
import { snapshotStores } from './snapshot.ts';

describe('snapshotStores', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(() => redis.disconnect());

  it('covers every table, Redis key and S3 object, and sees a write to any of them', async () => {
    const before = await snapshotStores(redis);
    expect(Object.keys(before.tables)).toEqual(expect.arrayContaining(['ApiKey', 'Attempt', 'Checkpoint', 'Dataset', 'EpochMetric', 'Experiment', 'Prediction', 'Sweep', 'Volume']));
    expect(before.tables).not.toHaveProperty('_prisma_migrations');

    const user = await prisma().user.findUniqueOrThrow({ where: { name: 'admin' } });
    const key = await prisma().apiKey.create({ data: { name: 'snapshot', hash: `h-${Date.now()}`, prefix: 'cap_', userId: user.id } });
    await redis.set('snapshot:probe', 'x');
    await putObject('snapshot-probe/object', 'x');
    try {
      const after = await snapshotStores(redis);
      expect(after.tables.ApiKey).toBe(before.tables.ApiKey + 1);
      expect(after.redis).toContain('snapshot:probe string 1');
      expect(after.s3).toContain('snapshot-probe/object 1');
    } finally {
      await prisma().apiKey.delete({ where: { id: key.id } });
      await redis.del('snapshot:probe');
      await deletePrefix('snapshot-probe/');
    }
    // Rate-limit counters and worker heartbeats change with time alone: left out.
    await redis.set(`${RATE_LIMIT_PREFIX}ip:1.2.3.4`, '1', 'PX', 60_000);
    expect(await snapshotStores(redis)).toEqual(before);
    await redis.del(`${RATE_LIMIT_PREFIX}ip:1.2.3.4`);
  });
});
