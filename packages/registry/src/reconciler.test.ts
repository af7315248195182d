import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { JobQueues, redisConnection, type RedisClient } from '@capillary/queue';
import { ExperimentRegistry } from './experiments.ts';
import { recreateTrainingJob } from './reconciler.ts';
import { bullPriority } from './fair-share.ts';

const db = prisma();
const experiments = new ExperimentRegistry(db);
const spec = { dataset: 'd', model: 'unet', epochs: 1, lr: 0.1 };
let redis: RedisClient;
let queues: JobQueues;
let datasetId: string;

beforeAll(async () => {
  redis = redisConnection(process.env.REDIS_URL!);
  queues = new JobQueues(redis);
  datasetId = (await db.dataset.create({ data: { name: `reconcile-${randomUUID().slice(0, 8)}` } })).id;
});
afterAll(async () => {
  await db.experiment.deleteMany({ where: { datasetId } });
  await db.dataset.delete({ where: { id: datasetId } });
  await queues.close();
  redis.disconnect();
});

describe('the reconciler re-creates a lost training job at its place', () => {
  it('with the BullMQ priority fixed when the row was created, or one computed the same way for an older row', async () => {
    const row = { spec, datasetId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.1, augmentationP: 0, batchSize: 1, seed: 0 };
    const placed = await experiments.create({ id: randomUUID(), ...row, priority: 2 });
    expect(placed.queuePriority).toBeGreaterThan(bullPriority(1, 1e9, 1e9));
    expect(placed.queuePriority).toBeLessThan(bullPriority(3, 0, 0));
    const job = await recreateTrainingJob(queues, experiments, placed);
    expect(job.opts.priority).toBe(placed.queuePriority);
    expect((await queues.queue('training').getJob(placed.id))?.opts.priority).toBe(placed.queuePriority);
    await job.remove();

    // A row queued before priorities existed: placed now, in the default level's band.
    const legacy = await experiments.create({ id: randomUUID(), ...row });
    await db.experiment.update({ where: { id: legacy.id }, data: { queuePriority: null } });
    const again = await recreateTrainingJob(queues, experiments, { ...legacy, queuePriority: null });
    expect(again.opts.priority).toBeGreaterThan(bullPriority(4, 1e9, 1e9));
    expect(again.opts.priority).toBeLessThan(bullPriority(6, 0, 0));
    await again.remove();
    await db.experiment.updateMany({ where: { datasetId }, data: { status: 'cancelled' } });
  });
});
