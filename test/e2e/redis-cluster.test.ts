import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { RATE_LIMIT_PREFIX, WORKERS_KEY, liveWorkers, queueKey, queuePrefix, redisConnection, type RedisClient } from '@capillary/queue';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { openEvents } from '../sse-client.ts';
import { startRedisCluster, type RedisCluster } from '../redis-cluster.ts';

const DATASET = 'e2e-redis-cluster';
const WORKER_IDS = ['cluster-worker-a', 'cluster-worker-b'];
let cluster: RedisCluster;
let client: RedisClient;
let api: RunningApi;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 11, trainVolumes: 1, validationVolumes: 1, shape: [8, 32, 32] });
  cluster = await startRedisCluster({ masters: 3 });
  const onCluster = { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true' };
  client = redisConnection(cluster.url, { cluster: true });
  api = await startApi(onCluster);
  for (const id of WORKER_IDS) workers.push(startWorker({ ...onCluster, WORKER_ID: id }));
  // Both workers listen before anything is queued, so the sweep is shared between them.
  await waitUntil('both workers to beat on the cluster', async () => {
    const live = (await liveWorkers(client, 20_000)).map((w) => w.id);
    return WORKER_IDS.every((id) => live.includes(id)) ? true : undefined;
  }, 60_000, 200);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await api?.close();
  client?.disconnect();
  await cluster?.stop();
});

describe('Capillary on a 3-master Redis Cluster', () => {
  it('runs a sweep end to end with two workers; each queue keeps its keys in one slot', async () => {
    const sweep = await api.request('POST', '/sweeps', {
      name: 'on-redis-cluster',
      base: tinySpec(DATASET, { epochs: 1, stepsPerEpoch: 2 }),
      grid: { lr: [0.003, 0.002], seed: [1, 2] },
    });
    expect(sweep.status, JSON.stringify(sweep.body)).toBe(201);
    const ids: string[] = sweep.body.experiments.map((e: { id: string }) => e.id);
    expect(ids).toHaveLength(4);

    // Events travel worker -> cluster pub/sub -> API -> SSE.
    const stream = await openEvents(`${api.url}/experiments/${ids[3]}/events`, { authorization: `Bearer ${api.key}` });
    expect(stream.status).toBe(200);

    const rows = await waitUntil('every run of the sweep to end', async () => {
      const r = await prisma().experiment.findMany({ where: { id: { in: ids } } });
      return r.every((e) => ['succeeded', 'failed', 'cancelled'].includes(e.status)) ? r : undefined;
    }, 300_000, 250);
    expect(rows.map((r) => [r.status, r.errorMessage])).toEqual(ids.map(() => ['succeeded', null]));
    const attempts = await prisma().attempt.findMany({ where: { experimentId: { in: ids } } });
    expect(new Set(attempts.map((a) => a.workerId))).toEqual(new Set(WORKER_IDS));

    await stream.ended;
    expect(stream.events.map((e) => e.event)).toContain('epoch');
    expect(stream.events.at(-1)).toMatchObject({ event: 'status', data: { status: 'succeeded' } });

    // The jobs live in the cluster, all in the slot of the prefix's hash tag, none in the test stack's Redis.
    const queue = api.app.queues.queue('training');
    for (const id of ids) expect(await queue.getJobState(id)).toBe('completed');
    const slot = cluster.cli(cluster.ports[0], 'cluster', 'keyslot', queuePrefix()).trim();
    for (const key of [queueKey('training', ids[0]), queueKey('training', 'completed'), queueKey('training', 'meta'), queueKey('prediction', 'meta')]) {
      expect(cluster.cli(cluster.ports[0], 'cluster', 'keyslot', key).trim()).toBe(slot);
      expect(await client.exists(key)).toBe(1);
    }
    const standalone = new Redis(process.env.REDIS_URL!);
    try {
      expect(await standalone.exists(queueKey('training', ids[0]))).toBe(0);
    } finally {
      standalone.disconnect();
    }
    // Capillary's own keys (heartbeats, rate-limit counters) hash anywhere: each command names one key.
    expect(await client.hlen(WORKERS_KEY)).toBe(2);
    const counters = await Promise.all(cluster.ports.map((p) => cluster.cli(p, 'keys', `${RATE_LIMIT_PREFIX}*`)));
    expect(counters.join('').trim()).not.toBe('');
  });

  it('a cancel reaches the worker over cluster pub/sub', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'cluster-cancel', epochs: 50, stepsPerEpoch: 10 }));
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    await waitUntil('the run to start', async () => ((await prisma().experiment.findUniqueOrThrow({ where: { id } })).status === 'running' ? true : undefined), 60_000, 100);
    expect((await api.request('DELETE', `/experiments/${id}`)).status).toBe(200);
    // The pub/sub handler is the one that logs "cancelling"; the durable run check does not.
    await waitUntil('a worker to take the cancel message', async () => (workers.some((w) => w.output.some((l) => l.includes('"cancelling"') && l.includes(id))) ? true : undefined), 30_000, 100);
    const attempt = await waitUntil('the attempt to end', async () => {
      const a = await prisma().attempt.findFirst({ where: { experimentId: id }, orderBy: { number: 'desc' } });
      return a?.endedAt ? a : undefined;
    }, 30_000, 100);
    expect(attempt.outcome).toBe('cancelled');
  });

  it('a prefix without a hash tag fails on the cluster with CROSSSLOT: why QUEUE_PREFIX defaults to {capillary}', async () => {
    const bare = new Queue('training', { connection: client, prefix: 'bull' });
    try {
      await expect(bare.add('train', {}, { jobId: 'crossslot-check' })).rejects.toThrow(/CROSSSLOT/);
    } finally {
      await bare.close();
    }
  });
});
