import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { ValidationError } from '@capillary/contracts';
import { JobQueues } from './queues.ts';
import { redisConnection, type RedisClient } from './connection.ts';
import { queueKey } from './redis-keys.ts';

describe('JobQueues validates payloads against the job catalogue', () => {
  let redis: RedisClient;
  let queues: JobQueues;
  beforeAll(() => {
    redis = redisConnection(process.env.REDIS_URL!);
    queues = new JobQueues(redis);
  });
  afterAll(async () => {
    await queues.close();
    redis.disconnect();
  });

  it('refuses a payload that breaks the schema, and nothing reaches Redis', async () => {
    const id = randomUUID();
    const bad = { experimentId: id, spec: { dataset: 'd', model: 'unet', epochs: 0, lr: 0.1 } };
    await expect(queues.enqueue('training', bad as never, id)).rejects.toThrow(ValidationError);
    await expect(queues.enqueue('training', bad as never, id)).rejects.toThrow(/spec\/epochs/);
    expect(await redis.exists(queueKey('training', id))).toBe(0);
  });

  it('a bulk add with one bad payload queues none of them', async () => {
    const good = { experimentId: randomUUID(), spec: { dataset: 'd', model: 'unet' as const, epochs: 1, lr: 0.1 } };
    const bad = { experimentId: 'not-a-uuid', spec: good.spec };
    await expect(
      queues.enqueueBulk('training', [
        { jobId: good.experimentId, payload: good as never },
        { jobId: 'x', payload: bad as never },
      ]),
    ).rejects.toThrow(/experimentId/);
    expect(await redis.exists(queueKey('training', good.experimentId))).toBe(0);
  });

  it('refuses a probe that would wait a negative time, naming holdMs', async () => {
    const id = randomUUID();
    await expect(queues.enqueue('probe', { probeId: id, holdMs: -1 }, id)).rejects.toThrow(/holdMs/);
    expect(await redis.exists(queueKey('probe', id))).toBe(0);
  });

  it('a valid payload is stored with its defaults filled in', async () => {
    const id = randomUUID();
    const job = await queues.enqueue('training', { experimentId: id, spec: { dataset: 'd', model: 'unet', epochs: 1, lr: 0.1 } as never }, id);
    expect(job.id).toBe(id);
    expect(job.data.spec.batchSize).toBe(4);
    await job.remove();
  });
});
