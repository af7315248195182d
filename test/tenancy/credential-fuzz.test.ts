// Issue 24, acceptance 4: malformed, oversized, non-ASCII and stale credentials (API keys in the
// Authorization header, session cookies, CSRF tokens) on every route, reading and mutating: never
// a 5xx, never a success where the route needs a principal, and nothing stored changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { SESSION_COOKIE } from '@capillary/api';
import { snapshotStores } from '../snapshot.ts';
import { PROJECT_HEADER, buildWorld, startTenancyApi, type TenancyApi, type World } from './world.ts';
import { documentedRoutes, fillRequest, type DocumentedRoute } from './requests.ts';

const CASES = 800;
const CONCURRENCY = 8;
const SEED = 20261220;

/** Header text a client can send: visible ASCII, or Latin-1 bytes (what UTF-8 arrives as). */
const ascii = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const latin1 = fc.string({ unit: fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
const utf8 = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((s) => Buffer.from(s, 'utf8').toString('latin1'));
const text = fc.oneof(ascii, latin1, utf8, fc.tuple(ascii, latin1, ascii).map((p) => p.join('')));
/** Under Node's 16 KiB header limit (reaches the API) and over it (the HTTP parser answers). */
const huge = fc.constantFrom(8_000, 20_000).chain((n) => fc.constantFrom('k', 'é', '\u00ff').map((c) => c.repeat(n)));

interface Stale {
  revoked: string;
  expired: string;
  /** The cookie of a session that was signed out. */
  signedOut: string;
  /** The cookie of a live session (sent only with forged CSRF tokens on mutating requests). */
  live: string;
}

function authorization(stale: Stale): fc.Arbitrary<string> {
  const staleKey = fc.constantFrom(stale.revoked, stale.expired);
  return fc.oneof(
    text,
    text.map((t) => `Bearer ${t}`),
    huge.map((h) => `Bearer ${h}`),
    fc.constantFrom('Bearer', 'Bearer ', 'bearer', 'Basic', 'Token x', 'Bearer null', 'Bearer undefined', 'Bearer cap_', '*'),
    fc.base64String({ minLength: 4, maxLength: 60 }).map((b) => `Basic ${b}`),
    staleKey.map((k) => `Bearer ${k}`),
    staleKey.map((k) => `bearer   ${k}`),
    fc.tuple(staleKey, text).map(([k, t]) => `Bearer ${k}${t}`),
    fc.tuple(staleKey, fc.integer({ min: 1, max: 20 })).map(([k, n]) => `Bearer ${k.slice(0, -n)}`),
    staleKey.map((k) => `Bearer ${k.toUpperCase()}`),
    staleKey.map((k) => `Bearer ${k} ${k}`),
  );
}

function cookie(stale: Stale): fc.Arbitrary<string> {
  const tamper = fc.tuple(fc.nat(), fc.constantFrom('A', 'z', '0', '.', '%')).map(([i, c]) => {
    const v = stale.signedOut;
    const at = i % v.length;
    return v.slice(0, at) + c + v.slice(at + 1);
  });
  return fc.oneof(
    text,
    text.map((t) => `${SESSION_COOKIE}=${t}`),
    huge.map((h) => `${SESSION_COOKIE}=${h}`),
    fc.constant(`${SESSION_COOKIE}=${stale.signedOut}`),
    tamper.map((t) => `${SESSION_COOKIE}=${t}`),
    fc.tuple(fc.uuid(), fc.base64String({ maxLength: 44 })).map(([id, sig]) => `${SESSION_COOKIE}=${id}.${sig}`),
    fc.tuple(text, text).map(([a, b]) => `${SESSION_COOKIE}=${a}; ${SESSION_COOKIE}=${b}`),
    fc.constantFrom(`${SESSION_COOKIE}=`, `${SESSION_COOKIE}`, '=', ';;;', `${SESSION_COOKIE}=s%3A`, `${SESSION_COOKIE}=s:.`),
  );
}

interface Case {
  route: DocumentedRoute;
  path: string;
  body?: unknown;
  headers: Record<string, string>;
  what: string;
}

function cases(routes: DocumentedRoute[], world: World, stale: Stale): Case[] {
  const requests = routes.map((route) => ({ route, ...fillRequest(route, world.A) }));
  const mutating = requests.filter((r) => r.route.method !== 'GET');
  const credentials = fc.oneof(
    authorization(stale).map((a) => ({ authorization: a })),
    cookie(stale).map((c) => ({ cookie: c })),
    fc.tuple(authorization(stale), cookie(stale)).map(([a, c]) => ({ authorization: a, cookie: c })),
    fc.tuple(cookie(stale), text).map(([c, t]) => ({ cookie: c, 'x-csrf-token': t })),
  );
  const any = fc.tuple(fc.constantFrom(...requests), credentials).map(([r, h]) => ({ r, h }));
  // A live session with a forged or missing CSRF token: mutating requests are refused unseen.
  const forged = fc.tuple(fc.constantFrom(...mutating), fc.option(text, { nil: undefined })).map(([r, t]) => ({
    r, h: { cookie: `${SESSION_COOKIE}=${stale.live}`, ...(t === undefined ? {} : { 'x-csrf-token': t }) } as Record<string, string>,
  }));
  const sampled = fc.sample(fc.oneof({ arbitrary: any, weight: 5 }, { arbitrary: forged, weight: 1 }), { numRuns: CASES, seed: SEED });
  return sampled.map(({ r, h }) => ({
    route: r.route,
    path: r.path,
    body: r.body,
    headers: { [PROJECT_HEADER]: world.A.project.name, ...h },
    what: Object.entries(h).map(([k, v]) => `${k}: ${v.length > 60 ? `${v.slice(0, 60)}… (${v.length})` : v}`).join(' | '),
  }));
}

/**
 * The stores, less BullMQ's stalled-check keys: a worker (of any test run on this stack) sets one
 * with a TTL every stalled interval, so they come and go with time, whatever a request does.
 */
async function stored(redis: Redis) {
  const s = await snapshotStores(redis);
  return { ...s, redis: s.redis.filter((k) => !/:stalled-check /.test(k)) };
}

async function pool<T>(items: T[], n: number, run: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await run(items[next++]);
  }));
}

describe('malformed, oversized and stale credentials', () => {
  let api: TenancyApi;
  let world: World;
  let redis: Redis;
  let routes: DocumentedRoute[];
  let stale: Stale;

  /** Signs in with the key; returns the session cookie's value and its CSRF token. */
  async function signIn(key: string) {
    const res = await fetch(`${api.url}/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
    expect(res.status).toBe(200);
    const value = /capillary_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
    expect(value).toBeDefined();
    return { value: value!, csrf: ((await res.json()) as { csrfToken?: string }).csrfToken };
  }

  beforeAll(async () => {
    api = await startTenancyApi();
    world = await buildWorld(api, 'credfuzz');
    redis = new Redis(process.env.REDIS_URL!);
    routes = await documentedRoutes(api);
    const gone = await signIn(world.people.admin.key);
    const out = await fetch(`${api.url}/auth/session`, { method: 'DELETE', headers: { cookie: `${SESSION_COOKIE}=${gone.value}`, ...(gone.csrf ? { 'x-csrf-token': gone.csrf } : {}) } });
    expect(out.status).toBe(204);
    const live = await signIn(world.people.member.key);
    stale = { revoked: world.staleKeys.revoked, expired: world.staleKeys.expired, signedOut: gone.value, live: live.value };
    // The signed-out cookie is refused, and the live one works: the fixtures are what they say.
    expect((await api.send('GET', '/whoami', { headers: { cookie: `${SESSION_COOKIE}=${gone.value}` } })).status).toBe(401);
    expect((await api.send('GET', '/whoami', { headers: { cookie: `${SESSION_COOKIE}=${live.value}` } })).status).toBe(200);
  });
  afterAll(async () => {
    await api?.close();
    redis?.disconnect();
  });

  it(`sends ${CASES} requests with bad credentials over every route: no 5xx, every one refused where a principal is needed, nothing written`, async () => {
    const all = cases(routes, world, stale);
    const before = await stored(redis);
    const failures: string[] = [];
    const byStatus = new Map<number, number>();
    await pool(all, CONCURRENCY, async (c) => {
      const headers: Record<string, string> = { ...c.headers };
      let payload: string | undefined;
      if (c.body !== undefined) {
        payload = JSON.stringify(c.body);
        headers['content-type'] = 'application/json';
      }
      let status: number;
      let body = '';
      try {
        const res = await fetch(`${api.url}${c.path}`, { method: c.route.method, headers, body: payload });
        status = res.status;
        body = res.headers.get('content-type')?.startsWith('text/event-stream') ? (await res.body?.cancel(), '') : await res.text();
      } catch (e) {
        failures.push(`${c.route.method} ${c.path} [${c.what}] -> no answer: ${(e as Error).message} ${(e as { cause?: Error }).cause?.message ?? ''}`);
        return;
      }
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      const publicRoute = c.route.action === 'public';
      if (status >= 500) failures.push(`${c.route.method} ${c.path} [${c.what}] -> ${status} ${body.slice(0, 200)}`);
      // Refused before anything else looks at the request: no credential (401), a forged CSRF token
      // (403), or headers over Node's limit (431, from the HTTP parser).
      else if (!publicRoute && ![401, 403, 431].includes(status)) failures.push(`${c.route.method} ${c.path} [${c.what}] -> not refused: ${status} ${body.slice(0, 200)}`);
    });
    console.log(`credential fuzz: ${all.length} requests over ${routes.length} routes; statuses ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`);
    expect(failures.slice(0, 20)).toEqual([]);
    // Every kind of refusal was exercised: unauthenticated, forged CSRF, oversized headers.
    expect([...byStatus.keys()]).toEqual(expect.arrayContaining([401, 403, 431]));
    expect(await stored(redis)).toEqual(before);
  });
});
