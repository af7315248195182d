// What the API answers: only declared fields, the private score only after its sweep closes, no
// stack traces, worker hosts only to key holders; and idempotency keys scoped to the API key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { WORKERS_KEY } from '@capillary/queue';
import { ApiKeyService } from './services/api-keys.ts';
import { startApi, tinySpec, type RunningApi } from '../../../test/harness.ts';
import { snapshotStores } from '../../../test/snapshot.ts';
import { parsePrometheus, sampleValue } from '../../../test/prometheus.ts';

const DATASET = 'responses-fixture';
const EXPERIMENT_FIELDS = ['id', 'name', 'spec', 'sweepId', 'model', 'encoder', 'inputMode', 'epochs', 'lr', 'augmentationP', 'batchSize', 'seed', 'status', 'priority', 'attempts', 'workerId', 'backend', 'errorMessage', 'score', 'scoreSource', 'validationScore', 'validatedOnTraining', 'validationCrops', 'wholeValidationScore', 'privateRevealed', 'closedAt', 'bestEpoch', 'rung', 'createdAt', 'startedAt', 'finishedAt'];

describe('responses', () => {
  let api: RunningApi;
  let redis: Redis;
  const created: string[] = [];
  beforeAll(async () => {
    await prisma().dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi();
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    for (const id of created) await api.request('DELETE', `/experiments/${id}`);
    await api.close();
    redis.disconnect();
  });

  it('GET /experiments/:id of an experiment in an open sweep has no privateScore and no idempotencyKey; closing the sweep reveals the score', async () => {
    const sweep = await api.request('POST', '/sweeps', { name: 'strict', base: tinySpec(DATASET), grid: { seed: [1, 2] } });
    expect(sweep.status).toBe(201);
    const id = sweep.body.experiments[0].id;
    created.push(...sweep.body.experiments.map((e: { id: string }) => e.id));
    await prisma().experiment.update({ where: { id }, data: { privateScore: 0.77, score: 0.5, idempotencyKey: 'secret-key' } });

    const open = await api.request('GET', `/experiments/${id}`);
    expect(open.status).toBe(200);
    expect(open.body).not.toHaveProperty('privateScore');
    expect(open.body).not.toHaveProperty('idempotencyKey');
    expect(Object.keys(open.body).sort()).toEqual([...EXPERIMENT_FIELDS, 'epochMetrics', 'checkpoints', 'attemptLog'].sort());
    const listed = (await api.request('GET', `/experiments?sweepId=${sweep.body.id}`)).body.items.find((e: { id: string }) => e.id === id);
    expect(Object.keys(listed).sort()).toEqual([...EXPERIMENT_FIELDS].sort());

    expect((await api.request('POST', `/sweeps/${sweep.body.id}/close`)).status).toBe(200);
    const closed = await api.request('GET', `/experiments/${id}`);
    expect(closed.body.privateScore).toBe(0.77);
    expect(closed.body).not.toHaveProperty('idempotencyKey');
  });

  it('error messages are answered without their stack', async () => {
    const res = await api.request('POST', '/experiments', tinySpec(DATASET));
    created.push(res.body.id);
    const stack = 'Error: out of memory in conv2d\n    at Conv2D (/app/engine.js:10:5)\n    at train (/app/train.js:99:1)';
    await prisma().experiment.update({ where: { id: res.body.id }, data: { errorMessage: stack } });
    expect((await api.request('GET', `/experiments/${res.body.id}`)).body.errorMessage).toBe('Error: out of memory in conv2d');
    const item = (await api.request('GET', '/experiments?limit=500')).body.items.find((e: { id: string }) => e.id === res.body.id);
    expect(item.errorMessage).toBe('Error: out of memory in conv2d');
    const prediction = await prisma().prediction.create({ data: { experimentId: res.body.id, datasetName: DATASET, status: 'failed', errorMessage: stack } });
    const got = await api.request('GET', `/predictions/${prediction.id}`);
    expect(got.body.errorMessage).toBe('Error: out of memory in conv2d');
    await prisma().prediction.delete({ where: { id: prediction.id } });
  });

  it('/queue: readers need a key; hosts and PIDs not for anonymous readers (AUTH_READS=open); a worker lists only this project\'s runs', async () => {
    const ours = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'queue-ours' }));
    const elsewhere = randomUUID();
    const hb = { id: 'responses-worker', backend: 'cpu', concurrency: 2, running: [ours.body.id, elsewhere], pid: 4242, host: 'gpu-node-17.internal', lastSeen: new Date().toISOString() };
    await redis.hset(WORKERS_KEY, hb.id, JSON.stringify(hb));
    const open = await startApi({ AUTH_READS: 'open' });
    try {
      expect((await api.request('GET', '/queue', undefined, { auth: false })).status).toBe(401);
      expect((await api.request('GET', '/queue', undefined, { auth: false, headers: { authorization: 'Bearer cap_made_up' } })).status).toBe(401);
      const anonymous = (await open.request('GET', '/queue', undefined, { auth: false })).body.workers.find((w: { id: string }) => w.id === hb.id);
      expect(anonymous).toEqual({ id: hb.id, backend: 'cpu', concurrency: 2, running: [ours.body.id], lastSeen: hb.lastSeen });
      const keyed = (await api.request('GET', '/queue')).body.workers.find((w: { id: string }) => w.id === hb.id);
      expect(keyed).toMatchObject({ host: hb.host, pid: hb.pid, running: [ours.body.id] });
      // Gone by HEARTBEAT_TTL_MS (20 s by default), as the reconciler and /metrics judge it.
      await redis.hset(WORKERS_KEY, 'responses-gone', JSON.stringify({ ...hb, id: 'responses-gone', lastSeen: new Date(Date.now() - 25_000).toISOString() }));
      const ids = (await api.request('GET', '/queue')).body.workers.map((w: { id: string }) => w.id);
      expect(ids).toContain(hb.id);
      expect(ids).not.toContain('responses-gone');
    } finally {
      await open.close();
      await redis.hdel(WORKERS_KEY, hb.id, 'responses-gone');
      await api.request('DELETE', `/experiments/${ours.body.id}`);
    }
  });

  it('/queue and the /metrics gauge agree on who is alive: both judge by the API\'s HEARTBEAT_TTL_MS', async () => {
    const backend = `responses-ttl-${randomUUID().slice(0, 8)}`;
    const [fresh, older] = [`${backend}-fresh`, `${backend}-older`];
    const beat = (id: string, ageMs: number) =>
      redis.hset(WORKERS_KEY, id, JSON.stringify({ id, backend, concurrency: 1, running: [], pid: 1, host: 'ttl-test', lastSeen: new Date(Date.now() - ageMs).toISOString() }));
    // 10 s old: past a 5 s TTL and within a 60 s one, and within every constant either page could
    // carry of its own (the default TTL is 20 s), so only the configured TTL decides.
    await beat(fresh, 0);
    await beat(older, 10_000);
    const token = `responses-${randomUUID()}`;
    const strict = await startApi({ HEARTBEAT_TTL_MS: '5000', METRICS_TOKEN: token });
    const lenient = await startApi({ HEARTBEAT_TTL_MS: '60000', METRICS_TOKEN: token });
    try {
      for (const [server, alive] of [[strict, [fresh]], [lenient, [fresh, older]]] as const) {
        const queue = await server.request('GET', '/queue');
        expect(queue.status).toBe(200);
        const listed = queue.body.workers.map((w: { id: string }) => w.id).filter((id: string) => id.startsWith(backend));
        expect(listed.sort()).toEqual([...alive].sort());
        const scrape = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
        expect(scrape.status).toBe(200);
        expect(sampleValue(parsePrometheus(await scrape.text()), 'capillary_workers_alive', { backend })).toBe(alive.length);
      }
    } finally {
      await strict.close();
      await lenient.close();
      await redis.hdel(WORKERS_KEY, fresh, older);
    }
  });
});

describe('Idempotency-Key', () => {
  let api: RunningApi;
  let redis: Redis;
  let otherKey: string;
  const created: string[] = [];
  beforeAll(async () => {
    await prisma().dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi();
    otherKey = (await new ApiKeyService(prisma()).create('idempotency-other')).key;
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    for (const id of created) await api.request('DELETE', `/experiments/${id}`);
    await api.close();
    redis.disconnect();
  });

  it('two API keys with the same Idempotency-Key get two experiments', async () => {
    const headers = { 'idempotency-key': `shared-${Date.now()}` };
    const mine = await api.request('POST', '/experiments', tinySpec(DATASET), { headers });
    const theirs = await api.request('POST', '/experiments', tinySpec(DATASET), { auth: false, headers: { ...headers, authorization: `Bearer ${otherKey}` } });
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    created.push(mine.body.id, theirs.body.id);
    expect(theirs.body.id).not.toBe(mine.body.id);
    // Each key's retry replays its own experiment, even spelled with another key order and defaults written out.
    const { dataset, ...rest } = tinySpec(DATASET);
    const retry = await api.request('POST', '/experiments', { ...rest, encoder: 'plain', dataset }, { headers });
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(mine.body.id);
    expect(retry.body).not.toHaveProperty('idempotencyKey');
  });

  it('the same key with another body is a 422 naming the header, and writes nothing', async () => {
    const headers = { 'idempotency-key': `body-${Date.now()}` };
    const first = await api.request('POST', '/experiments', tinySpec(DATASET), { headers });
    expect(first.status).toBe(201);
    created.push(first.body.id);
    const before = await snapshotStores(redis);
    const other = await api.request('POST', '/experiments', tinySpec(DATASET, { lr: 0.01 }), { headers });
    expect(other.status).toBe(422);
    expect(other.body.error).toBe('Unprocessable Entity');
    expect(other.body.message).toContain('headers/idempotency-key');
    expect(other.body.message).toContain(first.body.id);
    expect(other.body.issues).toEqual([{ field: 'headers/idempotency-key', message: expect.stringContaining('another body') }]);
    expect(await snapshotStores(redis)).toEqual(before);
  });

  it('concurrent first uses of one key by one API key create one experiment', async () => {
    const headers = { 'idempotency-key': `race-${Date.now()}` };
    const results = await Promise.all(Array.from({ length: 5 }, () => api.request('POST', '/experiments', tinySpec(DATASET), { headers })));
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    created.push(results[0].body.id);
  });
});
