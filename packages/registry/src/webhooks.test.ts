import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { JobQueues, redisConnection, type RedisClient } from '@capillary/queue';
import { ExperimentRegistry } from './experiments.ts';
import { requeueLostDeliveries } from './webhooks.ts';
import { WebhookRegistry } from './webhook-registry.ts';

const db = prisma();
const dispatched: string[] = [];
// Deliveries are only collected here: queueing is the reconciler's part of this test.
const experiments = new ExperimentRegistry(db, (ids) => dispatched.push(...ids));
const hooks = new WebhookRegistry(db);
const ALL = ['experiment.succeeded', 'experiment.failed', 'sweep.finished'];
let redis: RedisClient;
let queues: JobQueues;
let projectId: string;
let datasetId: string;
let keyId: string;

const row = (over: Record<string, unknown> = {}) => ({
  id: randomUUID(), spec: {}, datasetId, projectId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0, ...over,
});
const endpoint = (over: Partial<Parameters<WebhookRegistry['createEndpoint']>[0]> = {}) =>
  hooks.createEndpoint({ projectId, apiKeyId: null, url: 'http://127.0.0.1:9/none', secret: 'whsec_registry-test-secret', events: ALL, description: null, createdById: null, ...over });
const deliveriesOf = (endpointId: string) => db.webhookDelivery.findMany({ where: { endpointId }, orderBy: { seq: 'asc' } });

beforeAll(async () => {
  redis = redisConnection(process.env.REDIS_URL!);
  queues = new JobQueues(redis);
  const tag = randomUUID().slice(0, 8);
  projectId = (await db.project.create({ data: { name: `webhooks-${tag}` } })).id;
  datasetId = (await db.dataset.create({ data: { name: `webhooks-${tag}`, projectId } })).id;
  const user = await db.user.create({ data: { name: `webhooks-${tag}`, memberships: { create: { projectId, role: 'admin' } } } });
  keyId = (await db.apiKey.create({ data: { name: 'hooks', hash: randomUUID(), prefix: 'cap_test', userId: user.id } })).id;
});
afterAll(async () => {
  await db.experiment.deleteMany({ where: { datasetId } });
  await db.sweep.deleteMany({ where: { projectId } });
  await db.dataset.delete({ where: { id: datasetId } });
  await db.project.delete({ where: { id: projectId } });
  await db.user.deleteMany({ where: { apiKeys: { some: { id: keyId } } } });
  await queues.close();
  redis.disconnect();
});

describe('the webhook outbox', () => {
  it('writes one sweep.finished, after every trial event, when trials of a sweep end at the same moment', async () => {
    const hook = await endpoint();
    const sweepId = randomUUID();
    const trials = [row(), row(), row(), row()];
    await experiments.sweeps.createSweep({ id: sweepId, name: 'outbox', grid: {}, projectId }, trials.map((t) => ({ ...t, sweepId })));
    const fences = await Promise.all(trials.map(async (t) => (await experiments.openAttempt(t.id, 'w')).fence));
    dispatched.length = 0;
    // Four transactions racing to end the sweep's last trials: exactly one may see them all ended.
    await Promise.all(fences.map((f, i) => (i === 3 ? experiments.fail(f, 'broken', true) : experiments.succeed(f))));

    const rows = await deliveriesOf(hook.id);
    expect(rows.map((d) => d.event).sort()).toEqual(['experiment.failed', 'experiment.succeeded', 'experiment.succeeded', 'experiment.succeeded', 'sweep.finished']);
    expect(rows.at(-1)!.event).toBe('sweep.finished');
    expect(rows.at(-1)!.payload).toMatchObject({ type: 'sweep.finished', data: { sweep: { id: sweepId, trials: 4, outcomes: { succeeded: 3, failed: 1 } } } });
    expect(new Set(rows.map((d) => d.eventId)).size).toBe(5);
    // Each was handed to the dispatch after its commit.
    expect(dispatched.sort()).toEqual(rows.map((d) => d.id).sort());
    await db.webhookEndpoint.delete({ where: { id: hook.id } });
  });

  it('writes nothing for a retry, a cancel outside a sweep, or an endpoint that did not ask for the event', async () => {
    const onlySweeps = await endpoint({ events: ['sweep.finished'] });
    const a = row();
    await experiments.create(a);
    const first = await experiments.openAttempt(a.id, 'w');
    await experiments.fail(first.fence, 'try again', false);
    const b = row();
    await experiments.create(b);
    await experiments.cancel(b.id);
    const second = await experiments.openAttempt(a.id, 'w');
    await experiments.succeed(second.fence);
    expect(await deliveriesOf(onlySweeps.id)).toEqual([]);
    await db.webhookEndpoint.delete({ where: { id: onlySweeps.id } });
  });

  it("tells an endpoint limited to a key only of that key's runs", async () => {
    const keyed = await endpoint({ apiKeyId: keyId });
    const mine = row({ apiKeyId: keyId });
    const other = row();
    for (const r of [mine, other]) {
      await experiments.create(r);
      await experiments.succeed((await experiments.openAttempt(r.id, 'w')).fence);
    }
    expect((await deliveriesOf(keyed.id)).map((d) => d.subjectId)).toEqual([mine.id]);
    await db.webhookEndpoint.delete({ where: { id: keyed.id } });
  });

  it('tries an endpoint\'s deliveries oldest first, records each try, and the reconciler queues the ones without a job', async () => {
    const hook = await endpoint();
    const runs = [row(), row()];
    for (const r of runs) {
      await experiments.create(r);
      await experiments.succeed((await experiments.openAttempt(r.id, 'w')).fence);
    }
    const [older, younger] = await deliveriesOf(hook.id);
    expect(await hooks.claim(younger.id)).toEqual({ kind: 'behind', endpointId: hook.id });
    expect((await hooks.claim(older.id)).kind).toBe('ready');
    await hooks.recordTry(older.id, { statusCode: 500, error: 'HTTP 500', durationMs: 3 }, 'retry');
    expect((await hooks.claim(younger.id)).kind).toBe('behind');
    await hooks.recordTry(older.id, { statusCode: 200, error: null, durationMs: 2 }, 'delivered');
    expect(await hooks.nextWaiting(hook.id)).toBe(younger.id);
    expect((await hooks.claim(younger.id)).kind).toBe('ready');
    expect((await hooks.claim(older.id)).kind).toBe('done');
    const tries = await db.webhookAttempt.findMany({ where: { deliveryId: older.id }, orderBy: { number: 'asc' } });
    expect(tries.map((t) => [t.number, t.statusCode])).toEqual([[1, 500], [2, 200]]);
    expect(await db.webhookDelivery.findUniqueOrThrow({ where: { id: older.id } })).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200 });

    // The younger one never got its job (the dispatch only collected it): the reconciler adds it, once.
    await requeueLostDeliveries(db, queues, 0);
    const job = await queues.queue('webhook').getJob(younger.id);
    expect(job?.data).toEqual({ deliveryId: younger.id });
    expect(job?.opts.attempts).toBeGreaterThan(1);
    await requeueLostDeliveries(db, queues, 0);
    expect(await queues.queue('webhook').getJobs(['waiting', 'delayed', 'prioritized'])).toSatisfy((jobs: { id?: string }[]) => jobs.filter((j) => j.id === younger.id).length === 1);
    await job!.remove();
    await db.webhookEndpoint.delete({ where: { id: hook.id } });
  });
});
