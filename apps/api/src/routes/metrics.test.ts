import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseEnv } from '@capillary/contracts';
import { createPrisma, prisma } from '@capillary/db';
import { buildApp } from '../app.ts';
import { removeHeartbeat, writeHeartbeat } from '@capillary/queue';
import { startApi, tinySpec, type RunningApi } from '../../../../test/harness.ts';
import { parsePrometheus, sampleValue } from '../../../../test/prometheus.ts';

const DATASET = 'metrics-fixture';
/** The scraper's bearer token (METRICS_TOKEN) of every API this file starts. */
const TOKEN = `metrics-test-${randomUUID()}`;
const SCRAPER = { authorization: `Bearer ${TOKEN}` };

describe('GET /metrics', () => {
  let api: RunningApi;
  let redis: Redis;
  const scrape = async () => {
    const res = await fetch(`${api.url}/metrics`, { headers: SCRAPER });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parsePrometheus(text) };
  };

  beforeAll(async () => {
    await prisma().dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi({ METRICS_TOKEN: TOKEN });
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  it('answers only the METRICS_TOKEN bearer token: not none, not a wrong one, not an API key; the token opens no other route', async () => {
    const refusals: Record<string, string>[] = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Bearer ${TOKEN.slice(0, -1)}` }, { authorization: `Bearer ${api.key}` }, { authorization: TOKEN }];
    for (const headers of refusals) {
      const res = await fetch(`${api.url}/metrics`, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(((await res.json()) as { message: string }).message).toMatch(/METRICS_TOKEN/);
    }
    expect((await scrape()).samples.length).toBeGreaterThan(0);
    const elsewhere = await api.request('GET', '/experiments', undefined, { auth: false, headers: SCRAPER });
    expect(elsewhere.status).toBe(401);
  });

  it('without METRICS_TOKEN: always a 401 when reads need a key, open only with AUTH_READS=open (demos)', async () => {
    const closed = await startApi({ METRICS_TOKEN: '' });
    try {
      for (const headers of [{}, SCRAPER, { authorization: `Bearer ${closed.key}` }] as Record<string, string>[]) {
        const res = await fetch(`${closed.url}/metrics`, { headers });
        expect(res.status, JSON.stringify(headers)).toBe(401);
        expect(((await res.json()) as { message: string }).message).toMatch(/METRICS_TOKEN set on the API/);
      }
    } finally {
      await closed.close();
    }
    const demo = await startApi({ METRICS_TOKEN: '', AUTH_READS: 'open' });
    try {
      const res = await fetch(`${demo.url}/metrics`);
      expect(res.status).toBe(200);
      expect(parsePrometheus(await res.text()).length).toBeGreaterThan(0);
    } finally {
      await demo.close();
    }
    // A token, once set, is asked for with AUTH_READS=open as well.
    const demoWithToken = await startApi({ METRICS_TOKEN: TOKEN, AUTH_READS: 'open' });
    try {
      expect((await fetch(`${demoWithToken.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${demoWithToken.url}/metrics`, { headers: SCRAPER })).status).toBe(200);
    } finally {
      await demoWithToken.close();
    }
  });

  it('counts a new experiment as queued in Postgres and as a waiting training job in BullMQ', async () => {
    // The first scrape of a fresh server already says which sources it could read.
    const before = (await scrape()).samples;
    expect(sampleValue(before, 'capillary_metrics_source_up', { source: 'postgres' })).toBe(1);
    expect(sampleValue(before, 'capillary_metrics_source_up', { source: 'redis' })).toBe(1);
    expect(sampleValue(before, 'capillary_metrics_source_up', { source: 'heartbeats' })).toBe(1);
    const queuedBefore = sampleValue(before, 'capillary_experiments', { status: 'queued' })!;
    const pendingBefore = ['wait', 'prioritized'].reduce((n, state) => n + sampleValue(before, 'capillary_queue_jobs', { queue: 'training', state })!, 0);
    expect(queuedBefore).toBeGreaterThanOrEqual(0);

    const created = await api.request('POST', '/experiments', tinySpec(DATASET));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const after = (await scrape()).samples;
    expect(sampleValue(after, 'capillary_experiments', { status: 'queued' })).toBe(queuedBefore + 1);
    const pendingAfter = ['wait', 'prioritized'].reduce((n, state) => n + sampleValue(after, 'capillary_queue_jobs', { queue: 'training', state })!, 0);
    expect(pendingAfter).toBe(pendingBefore + 1);
    // Every state of both queues is reported, zeros included, so a scaler always finds its series.
    for (const queue of ['training', 'prediction']) {
      for (const state of ['wait', 'prioritized', 'delayed', 'active', 'failed']) {
        expect(sampleValue(after, 'capillary_queue_jobs', { queue, state }), `${queue} ${state}`).toBeGreaterThanOrEqual(0);
      }
    }
    expect(sampleValue(after, 'capillary_metrics_source_up', { source: 'postgres' })).toBe(1);
    expect(sampleValue(after, 'capillary_metrics_source_up', { source: 'redis' })).toBe(1);
    await api.request('DELETE', `/experiments/${created.body.id}`);
  });

  it('counts live workers per backend from their heartbeats, and forgets stale ones', async () => {
    const backend = `metrics-test-${randomUUID().slice(0, 8)}`;
    const beat = (id: string, lastSeen: Date) => writeHeartbeat(redis, { id, backend, concurrency: 1, running: [], pid: 1, host: 'secret-host-name', lastSeen: lastSeen.toISOString() });
    await beat(`${backend}-a`, new Date());
    await beat(`${backend}-b`, new Date());
    await beat(`${backend}-stale`, new Date(Date.now() - 3_600_000));
    try {
      const { text, samples } = await scrape();
      expect(sampleValue(samples, 'capillary_workers_alive', { backend })).toBe(2);
      expect(text).not.toContain('secret-host-name');
      await removeHeartbeat(redis, `${backend}-a`);
      expect(sampleValue((await scrape()).samples, 'capillary_workers_alive', { backend })).toBe(1);
    } finally {
      for (const id of ['a', 'b', 'stale']) await removeHeartbeat(redis, `${backend}-${id}`);
    }
  });

  it('times requests by route template and status, without ids, keys or secrets in any label', async () => {
    const id = randomUUID();
    const count = (samples: ReturnType<typeof parsePrometheus>, route: string, status: string) =>
      sampleValue(samples, 'capillary_http_request_duration_seconds_count', { method: 'GET', route, status_code: status }) ?? 0;
    const before = (await scrape()).samples;
    for (let i = 0; i < 3; i++) expect((await api.request('GET', '/health')).status).toBe(200);
    expect((await api.request('GET', `/experiments/${id}`)).status).toBe(404);
    expect((await api.request('GET', `/no-such-route/${id}?token=hunter2`)).status).toBe(404);
    const { text, samples } = await scrape();
    expect(count(samples, '/health', '200')).toBe(count(before, '/health', '200') + 3);
    expect(count(samples, '/experiments/:id', '404')).toBe(count(before, '/experiments/:id', '404') + 1);
    expect(count(samples, 'unmatched', '404')).toBe(count(before, 'unmatched', '404') + 1);
    for (const secret of [id, 'hunter2', api.key, TOKEN, new URL(process.env.DATABASE_URL!).password || 'no-password', process.env.S3_SECRET_ACCESS_KEY ?? 'S3RVER']) {
      expect(text).not.toContain(secret);
    }
  });

  it('is not held to the general rate limit that the other routes of the server keep', async () => {
    const limited = await startApi({ RATE_LIMIT_MAX: '2', METRICS_TOKEN: TOKEN });
    try {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${limited.url}/metrics`, { headers: SCRAPER }).then((r) => r.status)));
      expect(statuses.every((s) => s === 200), statuses.join(',')).toBe(true);
      // The general limit does apply to the other routes of the same server.
      const others = await Promise.all(Array.from({ length: 4 }, () => fetch(`${limited.url}/datasets`).then((r) => r.status)));
      expect(others).toContain(429);
    } finally {
      await limited.close();
    }
  });

  it('still answers when Postgres is unreachable: that source is 0 and its series are left out, not zero', async () => {
    // A real client to a port nothing listens on: the connection is refused, as in an outage.
    const unreachable = createPrisma('postgresql://capillary@127.0.0.1:1/none', { connectionTimeoutMillis: 1000 });
    const app = await buildApp({ env: parseEnv({ ...process.env, PORT: '0', LOG_LEVEL: 'silent', RECONCILER: 'false', RATE_LIMIT_MAX: '100000', METRICS_TOKEN: TOKEN }), db: unreachable, logger: false });
    try {
      const res = await app.inject({ url: '/metrics', headers: SCRAPER });
      expect(res.statusCode).toBe(200);
      const samples = parsePrometheus(res.body);
      expect(sampleValue(samples, 'capillary_metrics_source_up', { source: 'postgres' })).toBe(0);
      expect(sampleValue(samples, 'capillary_metrics_source_up', { source: 'redis' })).toBe(1);
      expect(samples.filter((x) => x.name === 'capillary_experiments')).toEqual([]);
      expect(sampleValue(samples, 'capillary_queue_jobs', { queue: 'training', state: 'wait' })).toBeGreaterThanOrEqual(0);
    } finally {
      await app.close();
      await unreachable.$disconnect();
    }
  });
});
