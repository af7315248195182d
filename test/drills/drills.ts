// The fault drills of "Nothing lost". Each stops a real server or disturbs a real worker in the
// middle of real work and returns what was lost; the caller asserts zeros (test) or sums (bench).
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { queuePrefix } from '@capillary/queue';
import { prisma } from '@capillary/db';
import { ExperimentRegistry } from '@capillary/registry';
import { getObject } from '@capillary/storage';
import { startService, stopService, type StackService } from '@capillary/devstack';
import { tinySpec, waitUntil, type RunningApi } from '../harness.ts';
import { shardKilled, shardRedisRestart } from './prediction-drills.ts';
import { frozenInTransaction } from './session-drills.ts';
import { sandboxesOf, DrillWorkers, epochsOf, outage, queueSweep, tally, untilEpochs, withRig, type DrillContext, type DrillTally } from './kit.ts';

export type Drill = (ctx: DrillContext) => Promise<DrillTally>;

/** A service goes away for `downMs` while a 12-run sweep trains on two workers. */
function outageDrill(service: StackService, downMs: number, opts: { wipe?: boolean; experiments?: number } = {}): Drill {
  return (ctx) =>
    withRig(async (api, workers) => {
      workers.start('drill-a');
      workers.start('drill-b');
      const ids = await queueSweep(api, ctx.dataset, opts.experiments ?? 12);
      await untilEpochs(ids, 2);
      ctx.log(`${service} down for ${downMs / 1000} s${opts.wipe ? ' (data wiped)' : ''}`);
      await stopService(ctx.profile, service, { wipe: opts.wipe });
      const down = Date.now();
      // While it is down the API says which service is missing, and answers 503, not 500.
      const seen = await waitUntil(`/health to report ${service}`, async () => {
        const h = await api.request('GET', '/health');
        return h.status === 503 && h.body.unreachable.includes(service) ? h.body : undefined;
      }, downMs, 200).catch(() => null);
      const read = service === 'redis' ? null : await api.request('GET', '/leaderboard');
      await outage(downMs - (Date.now() - down));
      await startService(ctx.profile, service);
      const result = await tally(ids, workers, 300_000);
      if (!seen) result.violations.push(`/health did not report ${service} as unreachable`);
      if (service === 'postgres' && read?.status !== 503) result.violations.push(`GET /leaderboard answered ${read?.status} while Postgres was down`);
      if (service === 's3') {
        const bad = await checkpointMismatches(ids);
        if (bad) result.violations.push(`${bad} checkpoint rows do not match their objects`);
      }
      return result;
    });
}

/** Checkpoint rows whose object is missing or does not match the recorded sha256. */
async function checkpointMismatches(ids: string[]): Promise<number> {
  const { createHash } = await import('node:crypto');
  let bad = 0;
  for (const c of await prisma().checkpoint.findMany({ where: { experimentId: { in: ids } } })) {
    const bytes = await getObject(c.s3Key);
    if (!bytes || createHash('sha256').update(bytes).digest('hex') !== c.sha256) bad++;
  }
  return bad;
}

/**
 * Worker A is frozen (SIGSTOP) past its lock while B takes its run over, then thawed: A must stop
 * its sandbox within 5 s and write nothing; the run ends with the weights of an uninterrupted one.
 */
export const lockLoss: Drill = (ctx) =>
  withRig(async (api, workers) => {
    const spec = tinySpec(ctx.dataset, { name: 'drill-lock', epochs: 4, stepsPerEpoch: 4 });
    const id = (await api.request('POST', '/experiments', spec)).body.id as string;
    const a = workers.start('drill-frozen');
    await untilEpochs([id], 1);
    workers.start('drill-taker');
    a.process.kill('SIGSTOP');
    const db = prisma();
    const handedOver = await waitUntil('the run to move to the other worker', async () => {
      const row = await db.experiment.findUniqueOrThrow({ where: { id } });
      return row.workerId === 'drill-taker' ? row.attempts : undefined;
    }, 60_000, 100);
    a.process.kill('SIGCONT');
    const thawed = Date.now();
    const stopped = await waitUntil('the frozen worker to stop its sandbox', async () => (sandboxesOf(a.process.pid!).length === 0 ? Date.now() : undefined), 10_000, 100).catch(() => null);
    const result = await tally([id], workers, 240_000);
    // Only the new attempt may write after the hand-over.
    const older = await db.epochMetric.findMany({ where: { experimentId: id, attemptNumber: { lt: handedOver } } });
    const attempt = await db.attempt.findFirstOrThrow({ where: { experimentId: id, number: handedOver } });
    const stray = older.filter((m) => m.epoch > attempt.resumedFromEpoch).length;
    if (stray) result.violations.push(`${stray} epochs written by the frozen worker after the hand-over`);
    if (stopped === null || stopped - thawed > 5_000) result.violations.push(`the frozen worker's sandbox ran on ${stopped === null ? 'for over 10' : Math.round((stopped - thawed) / 1000)} s after it thawed`);
    // The same spec, uninterrupted, ends with the same weights.
    const ref = (await api.request('POST', '/experiments', { ...spec, name: 'drill-lock-reference' })).body.id as string;
    const refResult = await tally([ref], workers, 240_000);
    if (refResult.lost || (await finalDigest(id)) !== (await finalDigest(ref))) result.violations.push('final weights differ from an uninterrupted run');
    return result;
  });

async function finalDigest(id: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const { decodeCheckpoint } = await import('@capillary/engine');
  const last = await prisma().checkpoint.findFirstOrThrow({ where: { experimentId: id }, orderBy: { epoch: 'desc' } });
  const ck = decodeCheckpoint((await getObject(last.s3Key))!);
  const hash = createHash('sha256');
  for (const t of ck.header.tensors) {
    const { data } = ck.tensor(t.name)!;
    hash.update(t.name).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** Reads a job's stall counter from Redis (0 when it never stalled). */
async function stalls(queue: string, id: string): Promise<number> {
  const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection: redis, prefix: queuePrefix() });
  try {
    const job = await q.getJob(id);
    return job?.stalledCounter ?? 0;
  } finally {
    await q.close();
    redis.disconnect();
  }
}

/**
 * SIGTERM to the worker holding a run mid-epoch: the other worker resumes it within 10 s from
 * the last committed epoch, and the job never counts a stall. Then the same for a prediction.
 */
export const sigterm: Drill = (ctx) =>
  withRig(async (api, workers) => {
    const db = prisma();
    workers.start('drill-term-a');
    workers.start('drill-term-b');
    const id = (await api.request('POST', '/experiments', tinySpec(ctx.dataset, { name: 'drill-sigterm', epochs: 4, stepsPerEpoch: 4 }))).body.id as string;
    await untilEpochs([id], 1);
    const holder = (await db.experiment.findUniqueOrThrow({ where: { id } })).workerId!;
    const lastCommitted = Math.max(...(await epochsOf(id)));
    const t0 = Date.now();
    await workers.terminate(workers.byId(holder)!);
    const next = await waitUntil('the run to resume on the other worker', async () => db.attempt.findFirst({ where: { experimentId: id, workerId: { not: holder } } }).then((a) => a ?? undefined), 30_000, 100);
    const v: string[] = [];
    const took = next.startedAt.getTime() - t0;
    if (took > 10_000) v.push(`the other worker took the run after ${Math.round(took / 1000)} s`);
    // Epochs may commit between reading and the signal; the resume point is the last one before it.
    const committedBeforeTerm = (await db.epochMetric.findMany({ where: { experimentId: id, createdAt: { lt: next.startedAt } } })).map((m) => m.epoch);
    const expected = Math.max(lastCommitted, ...committedBeforeTerm);
    if (next.resumedFromEpoch !== expected) v.push(`resumed from epoch ${next.resumedFromEpoch}, not ${expected}`);
    const result = await tally([id], workers, 240_000);
    const trainingStalls = await stalls('training', id);
    if (trainingStalls) v.push(`the training job counted ${trainingStalls} stalls`);

    // A running prediction, handed over the same way.
    const survivor = workers.all.find((w) => w.process.exitCode === null)!;
    const restarted = workers.start('drill-term-c');
    const p = (await api.request('POST', `/experiments/${id}/predictions`, { dataset: ctx.dataset, options: { axes: ['xy', 'xz', 'yz'], tta: true } })).body.id as string;
    const predHolder = await waitUntil('the prediction to run', async () => {
      const row = await db.prediction.findUniqueOrThrow({ where: { id: p } });
      return row.status === 'running' ? row.workerId! : undefined;
    }, 60_000, 50);
    await workers.terminate(predHolder === 'drill-term-c' ? restarted : survivor);
    const prediction = await waitUntil('the prediction to finish elsewhere', async () => {
      const row = await db.prediction.findUniqueOrThrow({ where: { id: p } });
      return ['succeeded', 'failed'].includes(row.status) ? row : undefined;
    }, 120_000, 200);
    if (prediction.status !== 'succeeded') result.lost++;
    if (prediction.attempts < 2 || prediction.workerId === predHolder) v.push(`the prediction was not handed over (attempts ${prediction.attempts}, worker ${prediction.workerId})`);
    const predictionStalls = await stalls('prediction', p);
    if (predictionStalls) v.push(`the prediction job counted ${predictionStalls} stalls`);
    return { ...result, experiments: 2, violations: [...result.violations, ...v] };
  });

/**
 * SIGTERM while Redis is down: the worker cannot hand its run back to the queue, yet it must exit
 * within its shutdown deadline (an orchestrator's grace period ends in SIGKILL either way). Once
 * Redis is back the job's lock has expired, stalled-job recovery returns it, and another worker
 * resumes the run from its last committed epoch.
 */
export const sigtermRedisDown: Drill = (ctx) =>
  withRig(async (api, workers) => {
    const db = prisma();
    const deadlineMs = 4_000;
    const a = workers.start('drill-term-outage', { WORKER_SHUTDOWN_TIMEOUT_MS: String(deadlineMs) });
    const id = (await api.request('POST', '/experiments', tinySpec(ctx.dataset, { name: 'drill-sigterm-redis-down', epochs: 4, stepsPerEpoch: 4 }))).body.id as string;
    await untilEpochs([id], 1);
    const v: string[] = [];
    await stopService(ctx.profile, 'redis');
    const t0 = Date.now();
    try {
      await workers.terminate(a);
    } finally {
      await startService(ctx.profile, 'redis');
    }
    const took = Date.now() - t0;
    // The harness sends SIGKILL 10 s after SIGTERM; the worker's own deadline must come first.
    if (a.process.signalCode === 'SIGKILL') v.push(`the worker ignored SIGTERM for ${Math.round(took / 1000)} s and was killed`);
    else if (took > deadlineMs + 3_000) v.push(`the worker took ${took} ms to exit, past its ${deadlineMs} ms deadline`);
    if (sandboxesOf(a.process.pid!).length) v.push('the worker left its sandbox running');
    const exitedAt = new Date();
    workers.start('drill-term-after');
    const next = await waitUntil('the run to resume on another worker', async () => db.attempt.findFirst({ where: { experimentId: id, workerId: 'drill-term-after' } }).then((x) => x ?? undefined), 60_000, 200);
    const committed = (await db.epochMetric.findMany({ where: { experimentId: id, createdAt: { lt: exitedAt } } })).map((m) => m.epoch);
    if (next.resumedFromEpoch !== Math.max(0, ...committed)) v.push(`resumed from epoch ${next.resumedFromEpoch}, not ${Math.max(0, ...committed)}`);
    const result = await tally([id], workers, 240_000);
    return { ...result, violations: [...result.violations, ...v] };
  });

/**
 * Cancels that the fast path misses: one during pickup (the worker has the job, no attempt yet),
 * one recorded in Postgres only (its pub/sub message lost), one while the worker's subscriber
 * is disconnected. Each must end cancelled with no epoch committed after the cancel.
 */
export const cancels: Drill = (ctx) =>
  withRig(async (api, workers) => {
    const db = prisma();
    const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const raw = new Queue('training', { connection: redis, prefix: queuePrefix() });
    const v: string[] = [];
    const long = (name: string) => tinySpec(ctx.dataset, { name, epochs: 30, stepsPerEpoch: 4 });
    const epochsAfter = async (id: string, t: Date) => db.epochMetric.count({ where: { experimentId: id, createdAt: { gt: t } } });
    try {
      // 1. During pickup.
      const slow = workers.start('drill-pickup', { WORKER_PICKUP_DELAY_MS: '3000' });
      const a = (await api.request('POST', '/experiments', long('drill-cancel-pickup'))).body.id as string;
      await waitUntil('the job to be taken', async () => ((await raw.getJobState(a)) === 'active' ? true : undefined), 30_000, 20);
      if ((await api.request('DELETE', `/experiments/${a}`)).status !== 200) v.push('pickup: DELETE refused');
      await waitUntil('the worker to let the job go', async () => (['failed', 'completed'].includes(await raw.getJobState(a)) ? true : undefined), 30_000, 100);
      const rowA = await db.experiment.findUniqueOrThrow({ where: { id: a }, include: { _count: { select: { epochMetrics: true } } } });
      if (rowA.status !== 'cancelled' || rowA._count.epochMetrics !== 0) v.push(`pickup: ${rowA.status} with ${rowA._count.epochMetrics} epochs`);
      await workers.terminate(slow);

      // 2. Recorded in Postgres only: no pub/sub message at all.
      const w = workers.start('drill-cancel');
      const b = (await api.request('POST', '/experiments', long('drill-cancel-durable'))).body.id as string;
      await untilEpochs([b], 1);
      await new ExperimentRegistry(db).cancel(b);
      const tb = new Date();
      await waitUntil('the sandbox to stop', async () => (sandboxesOf(w.process.pid!).length === 0 ? true : undefined), 10_000, 100).catch(() => v.push('durable: the sandbox kept running'));
      if ((await epochsAfter(b, tb)) !== 0) v.push('durable: epochs committed after the cancel');

      // 3. While the worker's subscriber is disconnected.
      const c = (await api.request('POST', '/experiments', long('drill-cancel-unsubscribed'))).body.id as string;
      await untilEpochs([c], 1);
      await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      if ((await api.request('DELETE', `/experiments/${c}`)).status !== 200) v.push('unsubscribed: DELETE refused');
      const tc = new Date();
      await waitUntil('the sandbox to stop', async () => (sandboxesOf(w.process.pid!).length === 0 ? true : undefined), 10_000, 100).catch(() => v.push('unsubscribed: the sandbox kept running'));
      if ((await epochsAfter(c, tc)) !== 0) v.push('unsubscribed: epochs committed after the cancel');
      const rows = await db.experiment.findMany({ where: { id: { in: [a, b, c] } } });
      const notCancelled = rows.filter((r) => r.status !== 'cancelled').length;
      // Here "lost" is a cancel that did not hold.
      return { experiments: 3, lost: notCancelled, duplicatedEpochs: 0, stuck: 0, workerCrashes: workers.crashes(), violations: v };
    } finally {
      await raw.close();
      redis.disconnect();
    }
  });

/** Every drill by name, as `npm run bench -- faults` reports them. */
export const DRILLS: Record<string, Drill> = {
  'redis-restart-kept': outageDrill('redis', 10_000),
  'redis-restart-wiped': outageDrill('redis', 10_000, { wipe: true }),
  'postgres-down': outageDrill('postgres', 30_000),
  's3-down': outageDrill('s3', 20_000),
  'lock-loss': lockLoss,
  'frozen-in-transaction': frozenInTransaction,
  sigterm,
  'sigterm-redis-down': sigtermRedisDown,
  cancels,
  'shard-killed': shardKilled,
  'shard-redis-restart': shardRedisRestart,
};
