import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { JobQueues, redisConnection } from '@capillary/queue';
import { ExperimentRegistry, PredictionRegistry, Reconciler } from '@capillary/registry';
import { checkpointKey, getObject, putObject } from '@capillary/storage';
import { startApi, tinySpec, type RunningApi } from '../../../test/harness.ts';

const DATASET = 'pbt-sweeps-fixture';
const db = prisma();
const registry = new ExperimentRegistry(db);
const space = { lr: { loguniform: [1e-4, 1e-2] }, augmentationP: { uniform: [0, 0.5] } };
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** One leg as a worker runs it: pickup, epochs committed with these scores (their checkpoints uploaded first), then a pause. */
async function leg(id: string, scores: number[]) {
  const { fence, lastEpoch } = await registry.openAttempt(id, 'test-worker');
  for (const [i, s] of scores.entries()) {
    const epoch = lastEpoch + i + 1;
    const bytes = new TextEncoder().encode(`weights of ${id} at ${epoch}`);
    const s3Key = checkpointKey(id, epoch, fence.attempt);
    await putObject(s3Key, bytes);
    await registry.commitEpoch(fence, { epoch, trainLoss: 1, valLoss: 1, dice: s, surfaceDice: s, learningRate: 0.001, durationMs: 1, checkpoint: { s3Key, bytes: bytes.byteLength, sha256: sha256(bytes) } }, { keepLast: 1 });
  }
  await registry.pause(fence);
}

describe('a PBT sweep\'s decisions through the registry and the reconciler', () => {
  let api: RunningApi;
  let redis: Redis;
  let queues: JobQueues;
  const job = (id: string) => queues.queue('training').getJob(id);
  const consume = async (ids: string[]) => {
    for (const id of ids) await (await job(id))?.remove();
  };

  beforeAll(async () => {
    await db.dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi();
    redis = new Redis(process.env.REDIS_URL!);
    queues = new JobQueues(redisConnection(process.env.REDIS_URL!));
  });
  afterAll(async () => {
    // Nothing of this file is left for a worker of a later file to train.
    const ds = await db.dataset.findUniqueOrThrow({ where: { name: DATASET } });
    for (const e of await db.experiment.findMany({ where: { datasetId: ds.id, status: { in: ['queued', 'running', 'paused'] } } })) {
      await registry.cancel(e.id);
      await (await job(e.id))?.remove();
    }
    await api.close();
    await queues.close();
    redis.disconnect();
  });

  it('waits for the whole population at the interval, then the reconciler makes the decision no worker made: copy, lineage, perturbed spec, every member re-queued', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'pbt', base: tinySpec(DATASET, { epochs: 3 }), strategy: 'pbt', space, seed: 2, pbt: { population: 4, perturbationInterval: 1, perturbFactors: [2] } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const ids: string[] = res.body.experiments.map((e: any) => e.id);
    const rows0 = await db.experiment.findMany({ where: { sweepId: res.body.id }, orderBy: { trialIndex: 'asc' } });
    expect(rows0.map((r) => r.pauseAtEpoch)).toEqual([1, 1, 1, 1]);
    await consume(ids);
    const reconciler = new Reconciler({ db, redis, queues, experiments: registry, predictions: new PredictionRegistry(db), heartbeatTtlMs: 10_000, graceMs: 0 });

    await leg(ids[0], [0.5]);
    await leg(ids[1], [0.2]);
    await leg(ids[2], [0.9]);
    expect(await reconciler.pass()).not.toBeNull();
    // One member has not reached the interval: nobody is decided on (its lost job is re-created).
    expect((await db.experiment.findMany({ where: { sweepId: res.body.id }, orderBy: { trialIndex: 'asc' } })).map((r) => r.status)).toEqual(['paused', 'paused', 'paused', 'queued']);
    expect(await db.pbtExploit.count({ where: { sweepId: res.body.id } })).toBe(0);
    await consume([ids[3]]);
    await leg(ids[3], [0.6]);

    // The worker that paused the last member died before deciding: the reconciler's pass decides.
    const ownKey = (await db.checkpoint.findUniqueOrThrow({ where: { experimentId_epoch: { experimentId: ids[1], epoch: 1 } } })).s3Key;
    expect(await reconciler.pass()).not.toBeNull();
    const rows = await db.experiment.findMany({ where: { sweepId: res.body.id }, orderBy: { trialIndex: 'asc' } });
    expect(rows.map((r) => [r.status, r.pauseAtEpoch])).toEqual(Array(4).fill(['queued', 2]));
    const lineage = await db.pbtExploit.findMany({ where: { sweepId: res.body.id } });
    // The worst (trial 1, 0.2) copies the best (trial 2, 0.9): a quarter of 4 is one.
    expect(lineage.map((l) => [l.experimentId, l.epoch, l.fromExperimentId, l.fromEpoch])).toEqual([[ids[1], 1, ids[2], 1]]);
    const donor = rows0[2];
    const after = { lr: Math.min(1e-2, Number((donor.lr * 2).toPrecision(6))), augmentationP: Math.min(0.5, Number((donor.augmentationP * 2).toPrecision(6))) };
    expect(lineage[0].after).toEqual(after);
    expect(lineage[0].before).toEqual({ lr: rows0[1].lr, augmentationP: rows0[1].augmentationP });
    expect([rows[1].lr, rows[1].augmentationP]).toEqual([after.lr, after.augmentationP]);
    expect((rows[1].spec as Record<string, unknown>).lr).toBe(after.lr);
    // Its checkpoint of epoch 1 is now a copy of the donor's, in an object of its own; its own is gone.
    const copy = await db.checkpoint.findUniqueOrThrow({ where: { experimentId_epoch: { experimentId: ids[1], epoch: 1 } } });
    const original = await db.checkpoint.findUniqueOrThrow({ where: { experimentId_epoch: { experimentId: ids[2], epoch: 1 } } });
    expect([copy.copiedFromExperimentId, copy.copiedFromEpoch, copy.sha256]).toEqual([ids[2], 1, original.sha256]);
    expect(await getObject(copy.s3Key)).toEqual(await getObject(original.s3Key));
    expect(await getObject(ownKey)).toBeNull();
    // Every member's job carries its spec: the copy's the perturbed one.
    for (const r of rows) expect((await job(r.id))?.data.spec).toEqual(r.spec);
    // Asked again, nothing more happens; and the copy resumes from epoch 1.
    expect(await reconciler.pass()).not.toBeNull();
    expect(await db.pbtExploit.count({ where: { sweepId: res.body.id } })).toBe(1);
    await consume(ids);
    expect((await registry.openAttempt(ids[1], 'test-worker')).lastEpoch).toBe(1);

    const detail = await api.request('GET', `/sweeps/${res.body.id}`);
    expect(detail.body.lineage).toEqual([{ experimentId: ids[1], epoch: 1, fromExperimentId: ids[2], fromEpoch: 1, before: lineage[0].before, after }]);
    await reconciler.stop();
  });
});
