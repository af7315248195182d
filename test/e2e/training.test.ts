import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { prisma } from '@capillary/db';
import { getObject } from '@capillary/storage';
import { seedSyntheticDataset } from '../../apps/cli/src/demo/seed.ts';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-synthetic';
let api: RunningApi;
const workers: RunningWorker[] = [];

const experiment = async (id: string) => (await api.request('GET', `/experiments/${id}`)).body;

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 7, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await api?.close();
});

describe('an experiment travels API -> queue -> worker -> leaderboard', () => {
  it('POST -> queued -> running -> succeeded, with epoch metrics and a verified checkpoint in S3', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-happy', epochs: 2 }));
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('queued');
    const id = created.body.id;

    const seen = new Set<string>();
    workers.push(startWorker());
    const done = await waitUntil('experiment to finish', async () => {
      const e = await experiment(id);
      seen.add(e.status);
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 240_000, 100);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(seen.has('running')).toBe(true);
    expect(done.epochMetrics.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2]);
    for (const m of done.epochMetrics) {
      expect(m.trainLoss).toBeGreaterThan(0);
      expect(m.dice).toBeGreaterThanOrEqual(0);
    }
    expect(done.backend).toMatch(/wasm|cpu|tensorflow/);
    expect(done.checkpoints).toHaveLength(2);
    const ckpt = done.checkpoints[1];
    const bytes = await getObject(ckpt.s3Key);
    expect(bytes).not.toBeNull();
    expect(bytes!.byteLength).toBe(ckpt.bytes);
    expect(createHash('sha256').update(bytes!).digest('hex')).toBe(ckpt.sha256);

    const board = await api.request('GET', '/leaderboard', undefined, { auth: false });
    const row = board.body.rows.find((r: { experimentId: string }) => r.experimentId === id);
    expect(row).toMatchObject({ model: 'unet', epochs: 2, lr: 0.003, augmentationP: 0.2, status: 'succeeded' });
    expect(row.score).toBe(done.score);
  });

  it('a worker killed with SIGKILL mid-training: another worker resumes from the last checkpoint', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-kill', epochs: 4, stepsPerEpoch: 4 }));
    const id = created.body.id;
    const first = startWorker({ WORKER_ID: 'doomed' });
    workers.push(first);
    await waitUntil('first epoch stored', async () => ((await experiment(id)).epochMetrics.length >= 1 ? true : undefined), 240_000, 100);
    first.process.kill('SIGKILL');
    // The sandbox child dies with its parent's IPC channel; the job is left to stalled-job recovery.
    workers.push(startWorker({ WORKER_ID: 'rescuer' }));
    const done = await waitUntil('experiment to finish on the second worker', async () => {
      const e = await experiment(id);
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 300_000, 200);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(done.epochMetrics.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2, 3, 4]);
    const attempts = done.attemptLog;
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts[0].workerId).toBe('doomed');
    const last = attempts[attempts.length - 1];
    expect(last.workerId).toBe('rescuer');
    expect(last.resumedFromEpoch).toBeGreaterThanOrEqual(1);
    expect(last.outcome).toBe('succeeded');
  });

  it('cancelling a running experiment stops it within 5 s and marks it cancelled', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-cancel', epochs: 50, stepsPerEpoch: 10 }));
    const id = created.body.id;
    workers.push(startWorker({ WORKER_ID: 'cancel-worker' }));
    await waitUntil('training to start', async () => ((await experiment(id)).status === 'running' ? true : undefined), 120_000, 100);
    await waitUntil('first progress', async () => ((await experiment(id)).backend ? true : undefined), 60_000, 100);
    const t0 = Date.now();
    expect((await api.request('DELETE', `/experiments/${id}`)).status).toBe(200);
    const attempt = await waitUntil('the attempt to end as cancelled', async () => {
      const e = await experiment(id);
      const a = e.attemptLog[e.attemptLog.length - 1];
      return a?.outcome === 'cancelled' ? a : undefined;
    }, 5_000, 50);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(attempt.endedAt).not.toBeNull();
    const after = await experiment(id);
    expect(after.status).toBe('cancelled');
    // Nothing trains on: the epoch count stays where it stopped.
    const epochs = after.epochMetrics.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect((await experiment(id)).epochMetrics.length).toBe(epochs);
    const row = await prisma().experiment.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe('cancelled');
  });
});
