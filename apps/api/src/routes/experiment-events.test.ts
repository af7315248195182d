import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { eventChannel, EventPublisher, redisConnection, type RedisClient } from '@capillary/queue';
import { resetRateLimits, startApi, waitUntil, type RunningApi } from '../../../../test/harness.ts';
import { openEvents, rawGet } from '../../../../test/sse-client.ts';

const DATASET = 'experiment-events';
const auth = (on: RunningApi) => ({ authorization: `Bearer ${on.key}` });
let api: RunningApi;
let datasetId: string;
let redis: RedisClient;
let publisher: EventPublisher;

async function experiment(status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled') {
  const row = await prisma().experiment.create({
    data: { name: `sse ${status}`, spec: {}, datasetId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 2, lr: 0.001, augmentationP: 0, batchSize: 1, seed: 0, status },
  });
  return row.id;
}

/** What an API holds for streams, in the process and in Redis itself. */
async function held(a: RunningApi, ids: string[]) {
  const numsub = ids.length ? ((await redis.pubsub('NUMSUB', ...ids.map(eventChannel))) as (string | number)[]) : [];
  let redisSubscribers = 0;
  for (let i = 1; i < numsub.length; i += 2) redisSubscribers += Number(numsub[i]);
  return { listeners: a.app.events.listenerCount(), channels: a.app.events.subscribedChannels().length, streams: a.app.eventStreams.open.total, redisSubscribers };
}
const NOTHING = { listeners: 0, channels: 0, streams: 0, redisSubscribers: 0 };
const releasedAll = (a: RunningApi, ids: string[]) =>
  waitUntil('streams to release everything', async () => {
    const h = await held(a, ids);
    return JSON.stringify(h) === JSON.stringify(NOTHING) ? h : undefined;
  }, 5000, 20);

beforeAll(async () => {
  datasetId = (await prisma().dataset.upsert({ where: { name: DATASET }, create: { name: DATASET }, update: {} })).id;
  redis = redisConnection(process.env.REDIS_URL);
  publisher = new EventPublisher(redis);
  api = await startApi();
});

afterAll(async () => {
  await api?.close();
  redis?.disconnect();
  await prisma().experiment.deleteMany({ where: { datasetId } });
});

describe('GET /experiments/:id/events', () => {
  it('a finished experiment: the snapshot, then the stream ends', async () => {
    const ids = [];
    for (const status of ['succeeded', 'failed', 'cancelled'] as const) {
      const id = await experiment(status);
      ids.push(id);
      const s = await openEvents(`${api.url}/experiments/${id}/events`, auth(api));
      expect(s.status).toBe(200);
      await s.ended;
      expect(s.events).toEqual([{ event: 'snapshot', data: { status, epochMetrics: [], score: null } }]);
    }
    await releasedAll(api, ids);
  });

  it('a running experiment: events as they happen, and the stream ends after the terminal status', async () => {
    const id = await experiment('running');
    const s = await openEvents(`${api.url}/experiments/${id}/events`, auth(api));
    await waitUntil('the snapshot', async () => (s.events.length ? true : undefined), 5000, 20);
    expect((await held(api, [id])).redisSubscribers).toBe(1);
    await publisher.publish(id, { type: 'progress', epoch: 1, step: 2, steps: 3, loss: 0.5 });
    await publisher.publish(id, { type: 'status', status: 'succeeded' });
    await s.ended;
    expect(s.events.map((e) => e.event)).toEqual(['snapshot', 'progress', 'status']);
    expect(s.events[0].data.status).toBe('running');
    expect(s.events[2].data.status).toBe('succeeded');
    await releasedAll(api, [id]);
  });

  it('404 for an unknown experiment, holding nothing afterwards', async () => {
    const id = randomUUID();
    const s = await openEvents(`${api.url}/experiments/${id}/events`, auth(api));
    expect(s.status).toBe(404);
    expect(s.body.message).toBe(`experiment ${id} not found`);
    await releasedAll(api, [id]);
  });

  it('a client gone while its stream is set up (before any close listener of the old code) leaves nothing behind', async () => {
    const id = await experiment('running');
    // Hold the epoch metrics locked, so the handler is stuck on its snapshot query (authorisation
    // reads only the experiment row) while the client resets the connection.
    let unlock!: () => void;
    const locked = new Promise<void>((r) => (unlock = r));
    let lockTaken!: () => void;
    const taken = new Promise<void>((r) => (lockTaken = r));
    const tx = prisma().$transaction(async (t) => {
      await t.$executeRawUnsafe('LOCK TABLE "EpochMetric" IN ACCESS EXCLUSIVE MODE');
      lockTaken();
      await locked;
    }, { timeout: 30_000 });
    await taken;
    const port = Number(new URL(api.url).port);
    const client = await rawGet(port, `/experiments/${id}/events`, auth(api));
    await waitUntil('the handler to subscribe and wait on the locked table', async () => ((await held(api, [id])).listeners === 1 ? true : undefined), 5000, 10);
    client.reset();
    await releasedAll(api, [id]);
    unlock();
    await tx;
    // The snapshot query has returned to a handler whose client is gone: it must not reattach.
    await waitUntil('the blocked query to finish', async () => {
      const rows = await prisma().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`;
      return rows[0].n === 0n ? true : undefined;
    }, 5000, 20);
    expect((await fetch(`${api.url}/health`)).status).toBe(200);
    expect(await held(api, [id])).toEqual(NOTHING);
  });

  it('caps streams per client (address of anonymous readers, else the user) and in total: 429 beyond', async () => {
    // AUTH_READS=open: anonymous readers are counted by address, signed-in users by user.
    const capped = await startApi({ SSE_MAX_PER_CLIENT: '2', SSE_MAX_TOTAL: '3', AUTH_READS: 'open' });
    const ids = [await experiment('running'), await experiment('running')];
    const url = (i: number) => `${capped.url}/experiments/${ids[i % 2]}/events`;
    const open = [];
    try {
      open.push(await openEvents(url(0)), await openEvents(url(1)));
      expect(open.map((s) => s.status)).toEqual([200, 200]);
      const third = await openEvents(url(0));
      expect(third.status).toBe(429);
      expect(third.body.message).toBe('too many event streams: at most 2 open per client');
      // The same address with an API key is another client (its user).
      open.push(await openEvents(url(0), { authorization: `Bearer ${capped.key}` }));
      expect(open[2].status).toBe(200);
      const other = await capped.app.apiKeys.create('second');
      const overTotal = await openEvents(url(1), { authorization: `Bearer ${other.key}` });
      expect(overTotal.status).toBe(429);
      expect(overTotal.body.message).toBe('too many event streams: this server holds at most 3');
      expect(capped.app.eventStreams.open).toEqual({ total: 3, clients: 2 });
      // A stream that ends gives its slot back.
      open.shift()!.abort();
      await waitUntil('a slot to free', async () => (capped.app.eventStreams.open.total === 2 ? true : undefined), 5000, 20);
      const again = await openEvents(url(0));
      expect(again.status).toBe(200);
      open.push(again);
    } finally {
      for (const s of open) s.abort();
      await releasedAll(capped, ids);
      await capped.close();
    }
  });

  it('opening streams is rate limited per client', async () => {
    await resetRateLimits();
    const limited = await startApi({ SSE_RATE_LIMIT_MAX: '2' });
    try {
      const id = await experiment('succeeded');
      const statuses: { status: number; limit: string | null }[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await limited.fetch(`/experiments/${id}/events`);
        await res.text();
        statuses.push({ status: res.status, limit: res.headers.get('x-ratelimit-limit') });
      }
      expect(statuses.at(-1)).toEqual({ status: 429, limit: '2' });
      expect(statuses.filter((s) => s.status === 200).length).toBeLessThanOrEqual(2);
    } finally {
      await limited.close();
      await resetRateLimits();
    }
  });
});
