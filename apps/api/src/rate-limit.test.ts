// Rate limits kept in Redis: two API processes sharing one Redis count the same client together.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { prisma } from '@capillary/db';
import { ApiKeyService } from './services/api-keys.ts';
import { RATE_LIMIT_PREFIX } from '@capillary/queue';
import { resetRateLimits, startApi, type RunningApi } from '../../../test/harness.ts';

const MAX = 6;

describe('rate limits across API replicas', () => {
  let a: RunningApi;
  let b: RunningApi;
  let redis: Redis;
  let otherKey: string;
  beforeAll(async () => {
    const limits = { RATE_LIMIT_MAX: String(MAX), VIEWER_RATE_LIMIT_MAX: String(MAX / 2), VOLUME3D_RATE_LIMIT_MAX: String(MAX / 2), SSE_RATE_LIMIT_MAX: String(MAX) };
    [a, b] = await Promise.all([startApi(limits), startApi(limits)]);
    otherKey = (await new ApiKeyService(prisma()).create('rate-limit-other')).key;
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await resetRateLimits();
    redis.disconnect();
  });
  // Every test starts from empty counters: other test files share loopback's IP within the minute.
  beforeEach(async () => {
    const keys = await redis.keys(`${RATE_LIMIT_PREFIX}*`);
    if (keys.length) await redis.del(...keys);
  });

  /** A request to one replica made with replica a's API key: one client talking to both. */
  const asA = (api: RunningApi, route: string) => api.request('GET', route, undefined, { auth: false, headers: { authorization: `Bearer ${a.key}` } });
  const statuses = async (n: number, send: (i: number) => Promise<{ status: number; body: any }>) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await send(i)).status);
    return out;
  };

  it('one user is counted once over both replicas', async () => {
    const seen = await statuses(MAX + 2, (i) => asA(i % 2 ? a : b, '/datasets'));
    expect(seen).toEqual([...Array(MAX).fill(200), 429, 429]);
    const limited = await a.request('GET', '/datasets');
    expect(limited.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    expect(limited.body.message).toMatch(/rate limit/i);
  });

  it('users are counted apart from each other and from the IP; more keys of one user share its budget; a made-up key counts as the IP', async () => {
    await statuses(MAX, () => asA(a, '/datasets'));
    expect((await asA(b, '/datasets')).status).toBe(429);
    // A second key of a's user buys nothing more.
    const { key: secondOfA } = await a.app.apiKeys.create('rate-limit-second', { userId: a.userId });
    expect((await b.request('GET', '/datasets', undefined, { auth: false, headers: { authorization: `Bearer ${secondOfA}` } })).status).toBe(429);
    // Another user from the same address still has their whole budget.
    const other = await statuses(MAX, () => b.request('GET', '/datasets', undefined, { auth: false, headers: { authorization: `Bearer ${otherKey}` } }));
    expect(other).toEqual(Array(MAX).fill(200));
    // Callers without a key are refused (reads need one) and counted by address, as are forged keys.
    const anonymous = await statuses(MAX - 1, (i) => (i % 2 ? a : b).request('GET', '/datasets', undefined, { auth: false }));
    expect(anonymous).toEqual(Array(MAX - 1).fill(401));
    expect((await a.request('GET', '/datasets', undefined, { auth: false, headers: { authorization: 'Bearer cap_forged' } })).status).toBe(401);
    expect((await b.request('GET', '/datasets', undefined, { auth: false, headers: { authorization: 'Bearer cap_forged_again' } })).status).toBe(429);
    const keys = await redis.keys(`${RATE_LIMIT_PREFIX}*`);
    expect(keys.some((k) => k.includes('ip:'))).toBe(true);
    expect(keys.filter((k) => k.includes('user:'))).toHaveLength(2);
  });

  it('viewer routes have their own limit (VIEWER_RATE_LIMIT_MAX), shared by the replicas', async () => {
    const id = randomUUID();
    const viewer = await statuses(MAX / 2 + 1, (i) => asA(i % 2 ? a : b, `/volumes/${id}`));
    expect(viewer).toEqual([...Array(MAX / 2).fill(404), 429]);
    // The general budget is untouched by the viewer's.
    expect((await asA(b, '/datasets')).status).toBe(200);
  });
});
