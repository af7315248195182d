import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { Queue } from 'bullmq';
import { JOBS } from '@capillary/contracts';
import { redisConnection } from '@capillary/queue';
import { predictionAttemptPrefix, ensureBucket, listKeys } from '@capillary/storage';
import { importVolume, syntheticSource } from '@capillary/volumes/importers';
import { VolumeRegistry } from '@capillary/registry';
import { predictionBytes, startApi, startWorker, trainedExperiment, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { sandboxesOf } from '../drills/kit.ts';

// A prediction too big for one shard is a flow of shard jobs over the workers; its mask, CSV and
// scores are those of the same prediction on one worker, byte for byte.
describe('sharded prediction through the queue', () => {
  const db = prisma();
  const tag = randomUUID().slice(0, 8);
  const dataset = `shard-${tag}`;
  const shape: [number, number, number] = [10, 40, 36];
  let experimentId: string;
  let api: RunningApi;

  beforeAll(async () => {
    await ensureBucket();
    await importVolume(syntheticSource({ shape, seed: 31, name: 'a' }), { catalog: new VolumeRegistry(prisma()), dataset, role: 'public_test' });
    await importVolume(syntheticSource({ shape: [6, 24, 20], seed: 32, name: 'b' }), { catalog: new VolumeRegistry(prisma()), dataset, role: 'public_test' });
    experimentId = await trainedExperiment(dataset, { threshold: 0.3 });
    api = await startApi();
  }, 180_000);

  afterAll(async () => {
    await api?.close();
    await db.prediction.deleteMany({ where: { experimentId } });
    await db.experiment.deleteMany({ where: { id: experimentId } });
    await db.dataset.deleteMany({ where: { name: dataset } });
  });

  /** Runs one prediction on workers started with `env` and returns everything it produced. */
  async function predict(env: Record<string, string>, workers: number, options: Record<string, unknown>) {
    const started: RunningWorker[] = Array.from({ length: workers }, (_, i) => startWorker({ WORKER_ID: `shard-${tag}-${i}-${randomUUID().slice(0, 4)}`, ...env }));
    try {
      const res = await api.request('POST', `/experiments/${experimentId}/predictions`, { dataset, options });
      expect(res.status).toBe(201);
      const row = await waitUntil('the prediction to end', async () => {
        const p = await db.prediction.findUniqueOrThrow({ where: { id: res.body.id } });
        return p.status === 'succeeded' || p.status === 'failed' ? p : undefined;
      }, 300_000);
      expect(row.errorMessage).toBeNull();
      expect(row.status).toBe('succeeded');
      const { masks, csv, outputs } = await predictionBytes(row.id);
      return { row, outputs, masks, csv, logs: started.flatMap((w) => w.output), shards: Object.keys(row.shards as object).length };
    } finally {
      await Promise.all(started.map((w) => w.stop()));
    }
  }

  // Shard sizes of three to four planes of volume a: several shards an axis, a few seconds each.
  const cases = [
    { options: { axes: ['xy', 'xz', 'yz'], tta: true, threshold: 0.1 }, shardVoxels: 40 * 36 * 4 * 4 },
    { options: { axes: ['xy', 'yz'], positiveFraction: 0.05, minComponentVoxels: 3, predictScale: 0.75 }, shardVoxels: 4000 },
  ];
  for (const { options, shardVoxels } of cases) {
    it(`matches one worker byte for byte: ${JSON.stringify(options)}`, async () => {
      const one = await predict({ PREDICT_SHARD_VOXELS: String(2 ** 40) }, 1, options);
      const many = await predict({ PREDICT_SHARD_VOXELS: String(shardVoxels), PREDICT_MAX_SHARDS_IN_FLIGHT: '3' }, 2, options);
      expect(one.shards).toBe(0);
      // Volume a is cut into shards on every axis; volume b is small enough to predict whole.
      expect(many.shards).toBeGreaterThanOrEqual(2 * options.axes.length);
      expect(many.logs.some((l) => l.includes('prediction waits for its shards'))).toBe(true);
      expect(many.masks.length).toBe(2);
      many.masks.forEach((m, i) => expect(m.equals(one.masks[i])).toBe(true));
      expect(many.csv.equals(one.csv)).toBe(true);
      expect(many.outputs.map((o) => [o.volume, o.surfaceDice, o.dice, o.foregroundVoxels])).toEqual(one.outputs.map((o) => [o.volume, o.surfaceDice, o.dice, o.foregroundVoxels]));
      expect(one.outputs[0].foregroundVoxels).toBeGreaterThan(0);
      for (const l of [...one.logs, ...many.logs]) expect(l).not.toContain('handed the run back');
    }, 600_000);
  }

  it('a cancel stops every shard within 5 s and removes what the attempt wrote', async () => {
    const workers = [0, 1].map((i) => startWorker({ WORKER_ID: `cancel-${tag}-${i}`, PREDICT_SHARD_VOXELS: String(40 * 36 * 4), RUN_CHECK_INTERVAL_MS: '1000' }));
    const connection = redisConnection();
    const shardQueue = new Queue(JOBS.predictionShard.queue, { connection, prefix: process.env.QUEUE_PREFIX ?? '{capillary}' });
    const sandboxes = () => workers.reduce((n, w) => n + sandboxesOf(w.process.pid!).length, 0);
    const activeShards = async (id: string) => (await shardQueue.getActive()).filter((j) => j.data.predictionId === id).length;
    try {
      const res = await api.request('POST', `/experiments/${experimentId}/predictions`, { dataset, options: { axes: ['xy', 'xz', 'yz'], tta: true } });
      expect(res.status).toBe(201);
      const id = res.body.id as string;
      await waitUntil('shards running on both workers', async () => ((await activeShards(id)) >= 2 ? true : undefined), 120_000);
      const cancelled = await api.request('DELETE', `/predictions/${id}`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      const t0 = Date.now();
      await waitUntil('every shard to stop', async () => ((await activeShards(id)) === 0 && sandboxes() === 0 ? true : undefined), 5_000, 100);
      expect(Date.now() - t0).toBeLessThan(5_000);
      // The prediction's job wakes when its children have ended, sees the cancel and removes the attempt's objects.
      await waitUntil('the attempt\'s objects to be removed', async () => ((await listKeys(predictionAttemptPrefix(id, 1))).length === 0 && (await shardQueue.getWaiting()).every((j) => j.data.predictionId !== id) ? true : undefined), 60_000);
      const row = await db.prediction.findUniqueOrThrow({ where: { id } });
      expect(row.status).toBe('cancelled');
      expect(row.csvKey).toBeNull();
      expect(await api.request('DELETE', `/predictions/${id}`)).toMatchObject({ status: 409 });
      expect(workers.every((w) => w.process.exitCode === null)).toBe(true);
    } finally {
      await shardQueue.close();
      connection.disconnect();
      await Promise.all(workers.map((w) => w.stop()));
    }
  }, 300_000);
});
