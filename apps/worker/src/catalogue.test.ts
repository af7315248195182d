import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { queuePrefix } from '@capillary/queue';
import { startWorker, waitUntil, type RunningWorker } from '../../../test/harness.ts';

describe('a worker validates each job again when it picks it up', () => {
  let redis: Redis;
  let raw: Queue;
  let worker: RunningWorker;
  beforeAll(() => {
    redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    // A producer that bypasses the catalogue, like a stale client or a hand-made job.
    raw = new Queue('training', { connection: redis, prefix: queuePrefix() });
    worker = startWorker({ WORKER_ID: 'catalogue-check' });
  });
  afterAll(async () => {
    await worker.stop();
    await raw.close();
    redis.disconnect();
  });

  it('fails a malformed job as unrecoverable: no retries', async () => {
    const id = randomUUID();
    await raw.add('train', { experimentId: id, spec: { model: 'unet', epochs: -1 } }, { jobId: id, attempts: 3 });
    // Read the job only once it is in the failed set: a copy read before the move is stale.
    const job = await waitUntil('the job to fail', async () => ((await raw.getJobState(id)) === 'failed' ? raw.getJob(id) : undefined), 60_000);
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/spec/);
  });

  it('runs a probe: it waits on Postgres for holdMs and on S3, and reports when it ran', async () => {
    const probes = new Queue('probe', { connection: redis, prefix: queuePrefix() });
    try {
      const id = randomUUID();
      await probes.add('probe', { probeId: id, holdMs: 300 }, { jobId: id });
      const job = await waitUntil('the probe to complete', async () => ((await probes.getJobState(id)) === 'completed' ? probes.getJob(id) : undefined), 60_000, 50);
      expect(job.returnvalue.finishedAt - job.returnvalue.startedAt).toBeGreaterThanOrEqual(300);
      expect(job.processedBy).toBe('catalogue-check-probe');
    } finally {
      await probes.close();
    }
  });

  it('fails a job whose experiment does not exist as unrecoverable', async () => {
    const id = randomUUID();
    await raw.add('train', { experimentId: id, spec: { dataset: 'd', model: 'unet', epochs: 1, lr: 0.1 } }, { jobId: id, attempts: 3 });
    // Read the job only once it is in the failed set: a copy read before the move is stale.
    const job = await waitUntil('the job to fail', async () => ((await raw.getJobState(id)) === 'failed' ? raw.getJob(id) : undefined), 60_000);
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/does not exist/);
  });
});
