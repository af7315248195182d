import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { JobQueues, queueKey, redisConnection } from '@capillary/queue';
import { ExperimentRegistry, PredictionRegistry, Reconciler, SweepScheduler } from '@capillary/registry';
import { REPO_ROOT, startApi, tinySpec, type RunningApi } from '../../../test/harness.ts';

const DATASET = 'sweeps-fixture';
const db = prisma();
const registry = new ExperimentRegistry(db);
const space = { lr: { loguniform: [1e-4, 1e-2] }, augmentationP: { uniform: [0, 1] } };
const asha = { minEpochs: 1, reductionFactor: 3, maxEpochs: 3 };
const { epochs: _e, ...base } = tinySpec(DATASET);

const cli = (...args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/capillary.mjs'), ...args], { cwd: REPO_ROOT }).then((r) => JSON.parse(r.stdout.trim().split('\n').pop()!));

/** One leg of a trial as a worker would run it: pickup, epochs committed with these scores, then pause/fail/none. */
async function leg(id: string, scores: number[], end: 'pause' | 'fail' | 'none' = 'pause') {
  const { fence, lastEpoch } = await registry.openAttempt(id, 'test-worker');
  for (const [i, s] of scores.entries()) {
    const epoch = lastEpoch + i + 1;
    await registry.commitEpoch(fence, { epoch, trainLoss: 1, valLoss: 1, dice: s, surfaceDice: s, learningRate: 0.001, durationMs: 1, checkpoint: { s3Key: `checkpoints/${id}/epoch-${epoch}-attempt-${fence.attempt}.ckpt`, bytes: 1, sha256: 'x' } }, { keepLast: 1 });
  }
  if (end === 'pause') await registry.pause(fence);
  if (end === 'fail') await registry.fail(fence, 'boom', true);
  return fence;
}

describe('sweep strategies, ASHA promotions, re-run and extend', () => {
  let api: RunningApi;
  let redis: Redis;
  let queues: JobQueues;
  const job = (id: string) => queues.queue('training').getJob(id);
  /** Takes the sweep's jobs out of Redis, as workers picking them up would. */
  const consume = async (ids: string[]) => {
    for (const id of ids) await (await job(id))?.remove();
  };
  const statuses = async (sweepId: string) => (await db.experiment.findMany({ where: { sweepId }, orderBy: { trialIndex: 'asc' } })).map((e) => [e.status, e.rung]);

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

  it('a random sweep samples its trials from the space, reproducibly from its seed, each with a queued job', async () => {
    const body = { name: 'random', base: tinySpec(DATASET), strategy: 'random', trials: 4, space, seed: 11 };
    const a = await api.request('POST', '/sweeps', body);
    expect(a.status).toBe(201);
    expect(a.body.strategy).toBe('random');
    expect(a.body.experiments).toHaveLength(4);
    const b = await api.request('POST', '/sweeps', body);
    const params = (r: typeof a) => r.body.experiments.map((e: any) => [e.lr, e.augmentationP]);
    expect(params(b)).toEqual(params(a));
    for (const e of a.body.experiments) {
      expect(e.lr).toBeGreaterThanOrEqual(1e-4);
      expect(e.lr).toBeLessThanOrEqual(1e-2);
      expect(await redis.exists(queueKey('training', e.id))).toBe(1);
    }
    await consume([...a.body.experiments, ...b.body.experiments].map((e: any) => e.id));
  });

  it('refuses a bad distribution with a 400 naming the field, and writes nothing', async () => {
    const before = await db.sweep.count();
    const res = await api.request('POST', '/sweeps', { name: 'bad', base: tinySpec(DATASET), strategy: 'random', trials: 2, space: { lr: { loguniform: [0, 1e-2] } } });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('space/lr/loguniform');
    const order = await api.request('POST', '/sweeps', { name: 'bad', base: tinySpec(DATASET), strategy: 'random', trials: 2, space: { lr: { loguniform: [1e-2, 1e-4] } } });
    expect(order.status).toBe(400);
    expect(order.body.issues).toEqual([{ field: '/space/lr/loguniform', message: 'low (0.01) must be below high (0.0001)' }]);
    const noAsha = await api.request('POST', '/sweeps', { name: 'bad', base, strategy: 'asha', trials: 2, space });
    expect(noAsha.status).toBe(400);
    expect(noAsha.body.issues).toEqual([{ field: '/asha', message: 'is required for a asha sweep' }]);
    expect(await db.sweep.count()).toBe(before);
  });

  it('ASHA: trials pause at their rung, the top 1/eta are promoted with a job, the others stop with their rung', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'asha', base, strategy: 'asha', asha, trials: 3, space });
    expect(res.status).toBe(201);
    expect(res.body.asha).toEqual(asha);
    const ids: string[] = res.body.experiments.map((e: any) => e.id);
    expect(res.body.experiments.map((e: any) => [e.epochs, e.rung, e.status])).toEqual([[3, 0, 'queued'], [3, 0, 'queued'], [3, 0, 'queued']]);
    await consume(ids);
    const scheduler = new SweepScheduler(registry, queues);
    await leg(ids[0], [0.5]);
    await leg(ids[1], [0.9]);
    // Two of three finished rung 0: floor(2/3) = 0 go on yet, and the third may still come.
    expect(await scheduler.advance(res.body.id)).toEqual({ promoted: [], stopped: [], decided: [], released: [] });
    await leg(ids[2], [0.2]);
    expect(await scheduler.advance(res.body.id)).toEqual({ promoted: [ids[1]], stopped: [ids[0], ids[2]], decided: [], released: [] });
    expect(await statuses(res.body.id)).toEqual([['stopped', 0], ['queued', 1], ['stopped', 0]]);
    expect(await (await job(ids[1]))?.getState()).toMatch(/waiting|prioritized/);
    const promoted = await db.experiment.findUniqueOrThrow({ where: { id: ids[1] } });
    expect(promoted.pauseAtEpoch).toBeNull(); // rung 1 is the top: it runs to epoch 3
    // The paused trial's checkpoint survived retention (keepLast 1): the promoted leg resumes from it.
    const resumed = await registry.openAttempt(ids[1], 'test-worker');
    expect(resumed.lastEpoch).toBe(1);
    // Stopped is terminal: neither a cancel nor another decision moves it.
    expect((await api.request('DELETE', `/experiments/${ids[0]}`)).status).toBe(409);
    expect(await scheduler.advance(res.body.id)).toEqual({ promoted: [], stopped: [], decided: [], released: [] });
    await registry.handOver(resumed.fence, 'test');
    await consume([ids[1]]);
  });

  it('the reconciler leaves paused trials alone and makes the decisions no worker made, queuing after commit', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'asha-reconcile', base, strategy: 'asha', asha, trials: 3, space, seed: 3 });
    const ids: string[] = res.body.experiments.map((e: any) => e.id);
    await consume(ids);
    const reconciler = new Reconciler({ db, redis, queues, experiments: registry, predictions: new PredictionRegistry(db), heartbeatTtlMs: 10_000, graceMs: 0 });
    await leg(ids[0], [0.4]);
    await leg(ids[1], [0.3]);
    await reconciler.pass();
    // Paused rows have no job on purpose: not lost, not re-queued. The queued one got its job back.
    expect(await statuses(res.body.id)).toEqual([['paused', 0], ['paused', 0], ['queued', 0]]);
    expect(await job(ids[0])).toBeUndefined();
    expect(await job(ids[2])).toBeDefined();
    await consume([ids[2]]);
    await leg(ids[2], [0.8]);
    // The worker died before deciding: the next pass promotes and stops.
    const report = await reconciler.pass();
    expect(report).toMatchObject({ promoted: 1, stopped: 2 });
    expect(await statuses(res.body.id)).toEqual([['stopped', 0], ['stopped', 0], ['queued', 1]]);
    expect(await job(ids[2])).toBeDefined();
    await consume([ids[2]]);
    // Hands its leader lease on, or the next file's reconciler could not lead for the lease's 30 s.
    await reconciler.stop();
  });

  it('a promotion whose job the queue refuses is undone, and made again on the next pass', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'asha-undo', base, strategy: 'asha', asha, trials: 3, space, seed: 4 });
    const ids: string[] = res.body.experiments.map((e: any) => e.id);
    await consume(ids);
    for (const [i, s] of [0.1, 0.2, 0.9].entries()) await leg(ids[i], [s]);
    // A Redis that never answers: BullMQ waits, the scheduler gives up after 5 s and undoes.
    const dead = new Redis({ port: 1, host: '127.0.0.1', maxRetriesPerRequest: null, retryStrategy: () => 1000, lazyConnect: false });
    dead.on('error', () => undefined);
    const deadQueues = new JobQueues(dead);
    const refused = await new SweepScheduler(registry, deadQueues).advance(res.body.id);
    dead.disconnect();
    expect(refused.promoted).toEqual([]);
    // The stops stand; the promoted trial waits paused at rung 0 again.
    expect(await statuses(res.body.id)).toEqual([['stopped', 0], ['stopped', 0], ['paused', 0]]);
    expect(await new SweepScheduler(registry, queues).advance(res.body.id)).toEqual({ promoted: [ids[2]], stopped: [], decided: [], released: [] });
    expect(await statuses(res.body.id)).toEqual([['stopped', 0], ['stopped', 0], ['queued', 1]]);
    await consume([ids[2]]);
  }, 30_000);

  it('re-run re-queues failed and cancelled cells to resume from their last checkpoint, also from the CLI', async () => {
    const res = await api.request('POST', '/sweeps', { name: 'rerun', base: tinySpec(DATASET, { epochs: 3 }), grid: { seed: [1, 2, 3] } });
    const ids: string[] = res.body.experiments.map((e: any) => e.id);
    await consume(ids);
    await leg(ids[0], [0.3, 0.4], 'fail');
    await leg(ids[1], [0.5], 'none');
    expect((await api.request('DELETE', `/experiments/${ids[1]}`)).status).toBe(200);
    await leg(ids[2], [0.1, 0.2, 0.3], 'none').then((f) => registry.succeed(f));
    const rerun = await api.request('POST', `/sweeps/${res.body.id}/rerun`);
    expect(rerun.status).toBe(200);
    expect([...rerun.body.requeued].sort()).toEqual([ids[0], ids[1]].sort());
    expect(await statuses(res.body.id)).toEqual([['queued', null], ['queued', null], ['succeeded', null]]);
    for (const id of [ids[0], ids[1]]) expect(await job(id)).toBeDefined();
    const row = await db.experiment.findUniqueOrThrow({ where: { id: ids[0] } });
    expect(row.errorMessage).toBeNull();
    expect(row.finishedAt).toBeNull();
    // Pickup resumes where each left off.
    await consume([ids[0], ids[1]]);
    const a = await registry.openAttempt(ids[0], 'test-worker');
    const b = await registry.openAttempt(ids[1], 'test-worker');
    expect([a.lastEpoch, b.lastEpoch]).toEqual([2, 1]);
    await registry.fail(a.fence, 'again', true);
    await registry.handOver(b.fence, 'test');
    // Nothing failed but the one: the CLI re-runs just it.
    const out = await cli('sweep', 'rerun', res.body.id, '--api', api.url, '--key', api.key);
    expect(out).toEqual({ sweepId: res.body.id, requeued: [ids[0]] });
    expect((await api.request('POST', '/sweeps/00000000-0000-4000-8000-000000000000/rerun')).status).toBe(404);
    await consume(ids);
  });

  it('extend adds the trials a larger first request would have drawn, also from the CLI; a grid sweep cannot be extended', async () => {
    const body = { name: 'extend', base: tinySpec(DATASET), strategy: 'random', trials: 3, space, seed: 21 };
    const small = await api.request('POST', '/sweeps', body);
    const ext = await api.request('POST', `/sweeps/${small.body.id}/extend`, { trials: 2 });
    expect(ext.status).toBe(200);
    expect(ext.body.experiments).toHaveLength(5);
    const out = await cli('sweep', 'extend', small.body.id, '--trials', '1', '--api', api.url, '--key', api.key);
    expect(out.experiments).toHaveLength(6);
    const big = await api.request('POST', '/sweeps', { ...body, trials: 6 });
    const rows = await db.experiment.findMany({ where: { sweepId: small.body.id }, orderBy: { trialIndex: 'asc' } });
    expect(rows.map((r) => r.trialIndex)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(rows.map((r) => r.lr)).toEqual(big.body.experiments.map((e: any) => e.lr));
    for (const r of rows) expect(await job(r.id)).toBeDefined();
    const bad = await api.request('POST', `/sweeps/${small.body.id}/extend`, { trials: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('trials');
    const grid = await api.request('POST', '/sweeps', { name: 'grid', base: tinySpec(DATASET), grid: { seed: [1] } });
    const refused = await api.request('POST', `/sweeps/${grid.body.id}/extend`, { trials: 2 });
    expect(refused.status).toBe(409);
    expect(refused.body.issues).toEqual([{ field: '/trials', message: 'this sweep has no space to sample from' }]);
    await consume([...rows.map((r) => r.id), ...big.body.experiments.map((e: any) => e.id), grid.body.experiments[0].id]);
  });
});
