import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { prisma } from '@capillary/db';
import { freePort, startApi, type RunningApi } from '../../../../test/harness.ts';
import { CookieJar, followSignIn, startOidcProvider, type RunningOidcProvider } from '../../../../test/oidc-provider.ts';
import { SESSION_PREFIX } from '@capillary/queue';
import { SESSION_COOKIE, sessionSecret } from '../plugins/app/session.ts';

// Signing in to the dashboard against a real OIDC provider on loopback and real Redis sessions.
const tag = randomBytes(3).toString('hex');
const LAB = `oidc-lab-${tag}`;
const OTHER = `oidc-other-${tag}`;
let api: RunningApi;
let idp: RunningOidcProvider;

/** fetch with a cookie jar's cookies for the API and, optionally, more headers. */
async function call(jar: CookieJar, method: string, route: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const url = `${api.url}${route}`;
  const headers: Record<string, string> = { cookie: jar.header(url), ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const setCookies = jar.store(url, res);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any, setCookies };
}

const sessionCookieOf = (lines: string[]) => lines.find((l) => l.startsWith(`${SESSION_COOKIE}=`));
/** The session id inside the signed cookie value (`<id>.<signature>`). */
const sessionIdOf = (value: string) => decodeURIComponent(value).replace(/\.[^.]*$/, '');

const membershipsOf = async (userId: string) =>
  Object.fromEntries((await prisma().membership.findMany({ where: { userId }, include: { project: true } })).map((m) => [m.project.name, m.role]));

beforeAll(async () => {
  await prisma().project.createMany({ data: [{ name: LAB }, { name: OTHER }] });
  const port = await freePort();
  idp = await startOidcProvider(`http://127.0.0.1:${port}/auth/oidc/callback`);
  api = await startApi({ PORT: String(port), ...idp.env });
});

afterAll(async () => {
  await api?.close();
  await idp?.close();
});

describe('signing in with OIDC', () => {
  const login = `ada-${tag}`;

  it('finds or creates the user, maps the roles claim to memberships, and starts an httpOnly SameSite=Strict session', async () => {
    idp.account(login, { name: `Ada ${tag}`, roles: [`${LAB}:member`, 'default:viewer', `${LAB}:viewer`, `no-such-project-${tag}:admin`, `${OTHER}:overlord`] });
    expect((await api.request('GET', '/auth/config', undefined, { auth: false })).body).toEqual({ oidc: true, authReads: 'required' });

    const jar = new CookieJar();
    const trip = await followSignIn(`${api.url}/auth/oidc/login`, login, jar);
    // The trip ends on the dashboard, after the provider's login form and the API's callback.
    expect(trip.url).toBe(`${api.url}/`);
    const callback = trip.setCookies.find((s) => s.url.startsWith(`${api.url}/auth/oidc/callback?`))!;
    const cookie = sessionCookieOf(callback.cookies)!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/; Secure/);
    // The session lives in Redis, so every API replica knows it.
    expect(await api.app.redis.exists(`${SESSION_PREFIX}${sessionIdOf(jar.get(api.url, SESSION_COOKIE)!)}`)).toBe(1);

    const user = await prisma().user.findUniqueOrThrow({ where: { oidcIssuer_oidcSubject: { oidcIssuer: idp.issuer, oidcSubject: login } } });
    expect(user.name).toBe(`Ada-${tag}`);
    // The highest role per project; unknown projects and roles are left out.
    expect(await membershipsOf(user.id)).toEqual({ [LAB]: 'member', default: 'viewer' });

    const me = await call(jar, 'GET', '/auth/session');
    expect(me.status).toBe(200);
    expect(me.body.user).toEqual({ id: user.id, name: user.name, operator: false });
    expect(me.body.via).toBe('session');
    expect(me.body.projects).toEqual([
      { id: expect.any(String), name: 'default', role: 'viewer' },
      { id: expect.any(String), name: LAB, role: 'member' },
    ]);
    expect(me.body.csrfToken).toEqual(expect.any(String));

    // Reads work with the cookie alone, in the project the header names.
    const list = await call(jar, 'GET', '/experiments', { headers: { 'x-capillary-project': LAB } });
    expect(list.status).toBe(200);
  });

  it('a mutating request signed in by the cookie needs the CSRF token; with it, it goes through; sign-out ends the session', async () => {
    const jar = new CookieJar();
    await followSignIn(`${api.url}/auth/oidc/login`, login, jar);
    const { body: me } = await call(jar, 'GET', '/auth/session');
    const signedIn = jar.get(api.url, SESSION_COOKIE)!;
    const sid = sessionIdOf(signedIn);

    const bad = { dataset: `none-${tag}`, epochs: 'many' };
    const noToken = await call(jar, 'POST', '/experiments', { body: bad, headers: { 'x-capillary-project': LAB } });
    expect(noToken.status).toBe(403);
    expect(noToken.body.message).toMatch(/x-csrf-token/);
    const wrongToken = await call(jar, 'POST', '/experiments', { body: bad, headers: { 'x-capillary-project': LAB, 'x-csrf-token': 'forged' } });
    expect(wrongToken.status).toBe(403);
    // With the token the request reaches validation (its body is refused by name, not the request).
    const withToken = await call(jar, 'POST', '/experiments', { body: bad, headers: { 'x-capillary-project': LAB, 'x-csrf-token': me.csrfToken } });
    expect(withToken.status).toBe(400);
    expect(withToken.body.message).toMatch(/body/);

    expect((await call(jar, 'DELETE', '/auth/session')).status).toBe(403);
    const out = await call(jar, 'DELETE', '/auth/session', { headers: { 'x-csrf-token': me.csrfToken } });
    expect(out.status).toBe(204);
    expect(sessionCookieOf(out.setCookies)).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect(await api.app.redis.exists(`${SESSION_PREFIX}${sid}`)).toBe(0);
    // The old cookie, sent again, opens nothing.
    const stale = await fetch(`${api.url}/auth/session`, { headers: { cookie: `${SESSION_COOKIE}=${signedIn}` } });
    expect(stale.status).toBe(401);
  });

  it('signing in again replaces the memberships with what the claim says now, for the same user', async () => {
    idp.account(login, { name: `Ada ${tag}`, roles: [`${OTHER}:admin`] });
    const jar = new CookieJar();
    await followSignIn(`${api.url}/auth/oidc/login`, login, jar);
    const users = await prisma().user.findMany({ where: { oidcIssuer: idp.issuer, oidcSubject: login } });
    expect(users).toHaveLength(1);
    expect(await membershipsOf(users[0].id)).toEqual({ [OTHER]: 'admin' });
    const me = await call(jar, 'GET', '/auth/session');
    expect(me.body.projects.map((p: { name: string; role: string }) => `${p.name}:${p.role}`)).toEqual([`${OTHER}:admin`]);
  });

  it('a disabled user cannot sign in, and their open session stops working', async () => {
    const who = `bob-${tag}`;
    idp.account(who, { name: who, roles: [`${LAB}:viewer`] });
    const jar = new CookieJar();
    await followSignIn(`${api.url}/auth/oidc/login`, who, jar);
    expect((await call(jar, 'GET', '/auth/session')).status).toBe(200);
    // Disabled by an operator, through the API (which makes every replica forget the user's roles
    // within PRINCIPAL_TTL_MS, and this one at once).
    const operator = await prisma().user.create({ data: { name: `operator-${tag}`, operator: true } });
    const { key: operatorKey } = await api.app.apiKeys.create('operator', { userId: operator.id });
    const bob = await prisma().user.findUniqueOrThrow({ where: { name: who } });
    const disabled = await api.request('PATCH', `/users/${bob.id}`, { disabled: true }, { auth: false, headers: { authorization: `Bearer ${operatorKey}` } });
    expect(disabled.status).toBe(200);
    expect((await call(jar, 'GET', '/auth/session')).status).toBe(401);
    const again = await followSignIn(`${api.url}/auth/oidc/login`, who, new CookieJar());
    expect(again.res.status).toBe(403);
    expect(((await again.res.json()) as { message: string }).message).toMatch(/disabled/);
  });

  it('a callback without the sign-in this browser started, or with another state, is refused', async () => {
    const none = await fetch(`${api.url}/auth/oidc/callback?code=abc&state=def`, { redirect: 'manual' });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { message: string }).message).toMatch(/capillary_oidc/);

    // A real login started in one browser, its code replayed with another browser's pending cookie.
    const jar = new CookieJar();
    const start = await fetch(`${api.url}/auth/oidc/login`, { redirect: 'manual' });
    jar.store(api.url, start);
    const other = new CookieJar();
    other.store(api.url, await fetch(`${api.url}/auth/oidc/login`, { redirect: 'manual' }));
    const toIdp = start.headers.get('location')!;
    const trip = await followSignIn(toIdp, login, jar);
    // Its callback URL (code and state) replayed by the other browser, whose pending sign-in has another state.
    const callbackUrl = trip.setCookies.find((s) => s.url.includes('/auth/oidc/callback?'))!.url;
    const replay = await fetch(callbackUrl, { redirect: 'manual', headers: { cookie: other.header(api.url) } });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { message: string }).message).toMatch(/oidc: sign-in refused/);
  });
});

describe('signing in with an API key', () => {
  it('exchanges a valid key for a session that reads and, with the CSRF token, writes', async () => {
    const jar = new CookieJar();
    const res = await call(jar, 'POST', '/auth/session', { body: { key: api.key } });
    expect(res.status).toBe(200);
    const cookie = sessionCookieOf(res.setCookies)!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(res.body.via).toBe('session');
    expect(res.body.projects).toEqual([{ id: expect.any(String), name: 'default', role: 'admin' }]);
    expect(res.body.csrfToken).toEqual(expect.any(String));

    expect((await call(jar, 'GET', '/experiments')).status).toBe(200);
    const me = await call(jar, 'GET', '/auth/session');
    expect(me.body.user.name).toBe(res.body.user.name);
    expect((await call(jar, 'DELETE', '/auth/session', { headers: { 'x-csrf-token': me.body.csrfToken } })).status).toBe(204);
    expect((await call(jar, 'GET', '/experiments')).status).toBe(401);
  });

  it('refuses bad, revoked and expired keys with 401, and keys limited to less than their user with 403', async () => {
    const post = (key: string) => api.request('POST', '/auth/session', { key }, { auth: false });
    const bad = await post('cap_not-a-key');
    expect(bad.status).toBe(401);
    expect(bad.body.message).toMatch(/^body\/key: /);

    const keys = api.app.apiKeys;
    const revoked = await keys.create(`revoked-${tag}`);
    await keys.revoke(revoked.id);
    expect((await post(revoked.key)).status).toBe(401);
    const expired = await keys.create(`expired-${tag}`, { expiresAt: new Date(Date.now() - 1000) });
    expect((await post(expired.key)).status).toBe(401);
    const readOnly = await keys.create(`read-${tag}`, { scope: 'read' });
    expect((await post(readOnly.key)).status).toBe(403);
    for (const r of [bad, await post(revoked.key)]) expect(r.body.message).not.toMatch(/cap_/);
  });

  it('requests with a key need no CSRF token, even with a session cookie beside it', async () => {
    const jar = new CookieJar();
    await call(jar, 'POST', '/auth/session', { body: { key: api.key } });
    const withKey = await call(jar, 'POST', '/experiments', { body: { dataset: `none-${tag}`, epochs: 'many' }, headers: { authorization: `Bearer ${api.key}` } });
    expect(withKey.status).toBe(400);
  });
});

describe('the session secret', () => {
  it('is required in production; elsewhere, unset, each process makes its own random one', () => {
    expect(() => sessionSecret({ secret: undefined, production: true })).toThrow(/SESSION_SECRET: required when NODE_ENV=production/);
    const a = sessionSecret({ secret: undefined, production: false });
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(sessionSecret({ secret: undefined, production: false })).not.toBe(a);
    expect(sessionSecret({ secret: 'x'.repeat(32), production: true })).toBe('x'.repeat(32));
  });
});

describe('without OIDC configured', () => {
  let plain: RunningApi;
  beforeAll(async () => {
    plain = await startApi();
  });
  afterAll(async () => plain?.close());

  it('says so, and its OIDC routes answer 404', async () => {
    expect((await plain.request('GET', '/auth/config', undefined, { auth: false })).body).toEqual({ oidc: false, authReads: 'required' });
    const login = await plain.request('GET', '/auth/oidc/login', undefined, { auth: false });
    expect(login.status).toBe(404);
    expect(login.body.message).toMatch(/OIDC_ISSUER/);
  });
});
