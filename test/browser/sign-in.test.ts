import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { prisma } from '@capillary/db';
import { freePort, startApi, type RunningApi } from '../harness.ts';
import { startOidcProvider, type RunningOidcProvider } from '../oidc-provider.ts';
import { localStorageEntries, openBrowser, signInWithForm, unexpectedErrors, type Browser } from './browser.ts';

// Signing in to the dashboard in a real Chromium: with an API key and with single sign-on at a
// real OIDC provider on loopback; the session cookie out of the page's reach; the role deciding
// what the pages offer, and the API refusing what they do not.
const tag = randomBytes(3).toString('hex');
const LAB = `signin-lab-${tag}`;
const DATASET = `signin-${tag}-ds`;
let api: RunningApi;
let idp: RunningOidcProvider;
let viewerKey: string;
let experimentId: string;
const browsers: Browser[] = [];

/** The console errors these tests cause on purpose: the first load before signing in, and refused requests. */
const REFUSALS = [/status of 401/, /status of 403/];

async function browser(): Promise<Browser> {
  const b = await openBrowser(api.url);
  browsers.push(b);
  return b;
}

/** `fetch` from inside the page, as a script there would send it: same origin, the cookie going along. */
function fetchInPage(b: Browser, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return b.page.evaluate(
    async ([m, p, h]) => {
      const res = await fetch(p, { method: m, headers: h });
      return { status: res.status, body: await res.json().catch(() => null) };
    },
    [method, path, headers] as const,
  );
}

async function sessionCookie(b: Browser) {
  return (await b.context.cookies(api.url)).find((c) => c.name === 'capillary_session');
}

beforeAll(async () => {
  const port = await freePort();
  idp = await startOidcProvider(`http://127.0.0.1:${port}/auth/oidc/callback`);
  api = await startApi({ PORT: String(port), ...idp.env });
  await prisma().project.create({ data: { name: LAB } });
  // A dataset without volumes: its experiment stays queued (this file starts no worker).
  await prisma().dataset.create({ data: { name: DATASET } });
  const created = await api.request('POST', '/experiments', { dataset: DATASET, model: 'unet', epochs: 1, lr: 0.001, augmentationP: 0, name: `signin ${tag}` });
  expect(created.status).toBe(201);
  experimentId = created.body.id;
  const viewer = await api.app.apiKeys.create(`viewer-${tag}`);
  await prisma().membership.updateMany({ where: { userId: viewer.userId }, data: { role: 'viewer' } });
  viewerKey = viewer.key;
});

afterAll(async () => {
  const queued = await prisma().experiment.findMany({ where: { dataset: { name: DATASET }, status: 'queued' } });
  for (const e of queued) await api.request('DELETE', `/experiments/${e.id}`);
  for (const b of browsers) await b.close();
  await api?.close();
  await idp?.close();
});

describe('signing in to the dashboard', () => {
  it('with an API key: an httpOnly SameSite=Strict session cookie, nothing secret in localStorage, and signing out', async () => {
    const b = await browser();
    const { page } = b;
    await page.goto('/');
    // Reads need a sign-in; single sign-on is offered since the API has an issuer.
    await page.waitForSelector('[data-testid="sign-in"]');
    expect(await page.isVisible('[data-testid="sso"]')).toBe(true);
    // A refused key is said so on the form.
    await page.fill('[data-testid="key-form"] input[name="apiKey"]', 'cap_wrong');
    await page.click('[data-testid="key-form"] button[type="submit"]');
    expect(await page.textContent('[data-testid="sign-in-error"]')).toMatch(/not valid/);
    await signInWithForm(page, api.key);
    await page.waitForSelector('tbody tr, .empty');
    expect(await page.textContent('[data-testid="role"]')).toBe('admin');

    const cookie = await sessionCookie(b);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
    // Out of reach of the page's scripts, and no secret kept by the page.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).not.toContain('capillary_session');
    const { body: me } = await fetchInPage(b, 'GET', '/auth/session');
    const stored = Object.values(await localStorageEntries(page)).join('\n');
    for (const secret of [api.key, cookie!.value, me.csrfToken]) expect(stored).not.toContain(secret);
    await b.screenshot('signed-in-key');

    await page.click('[data-testid="sign-out"]');
    await page.waitForSelector('[data-testid="sign-in"]');
    expect(await sessionCookie(b)).toBeUndefined();
    expect((await fetchInPage(b, 'GET', '/experiments')).status).toBe(401);
    expect(b.dialogs).toEqual([]);
    expect(unexpectedErrors(b, REFUSALS)).toEqual([]);
  });

  it('with OIDC: the issuer\'s login, back to the dashboard signed in, with the roles of the claim per project', async () => {
    const login = `grace-${tag}`;
    idp.account(login, { name: `Grace ${tag}`, roles: ['default:admin', `${LAB}:viewer`] });
    const b = await browser();
    const { page } = b;
    await page.goto('/');
    const before = b.consoleErrors.length;
    await page.click('[data-testid="sso"]');
    // The provider's own login page, on its own origin.
    await page.waitForSelector('input[name="login"]');
    expect(page.url().startsWith(idp.issuer)).toBe(true);
    await page.fill('input[name="login"]', login);
    await page.fill('input[name="password"]', 'any');
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.origin === api.url);
    // The provider's development page asks for a web font on the internet and a favicon it lacks: not the dashboard's errors.
    expect(b.consoleErrors.splice(before).filter((m) => !/ERR_NAME_NOT_RESOLVED|status of 404|status of 401/.test(m))).toEqual([]);
    await page.waitForSelector('[data-testid="user-name"]');
    expect(await page.textContent('[data-testid="user-name"]')).toBe(`Grace-${tag}`);

    const cookie = await sessionCookie(b);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.$$eval('[data-testid="project-switcher"] option', (os) => os.map((o) => (o as unknown as { value: string }).value).sort())).toEqual(['default', LAB].sort());
    expect(await page.textContent('[data-testid="role"]')).toBe('admin');
    await page.selectOption('[data-testid="project-switcher"]', LAB);
    await page.waitForFunction(() => (globalThis as any).document.querySelector('[data-testid="role"]')?.textContent === 'viewer');
    // The choice of project is all the page keeps; no token, no cookie value.
    const stored = await localStorageEntries(page);
    expect(stored).toEqual({ 'capillary.project': LAB });
    await page.goto('/app/queue');
    await page.waitForSelector('[data-testid="submit-not-allowed"]');
    await b.screenshot('signed-in-oidc');
    expect(b.dialogs).toEqual([]);
    expect(unexpectedErrors(b, REFUSALS)).toEqual([]);
  });

  it('a viewer sees no cancel button, and the same request sent by hand gets 403', async () => {
    const b = await browser();
    const { page } = b;
    await page.goto(`/app/experiments/${experimentId}`);
    await signInWithForm(page, viewerKey);
    await page.waitForSelector('h1 [data-status-badge="queued"]');
    expect(await page.textContent('[data-testid="role"]')).toBe('viewer');
    expect(await page.$$('[data-testid="cancel"]')).toEqual([]);
    expect(await page.$$('[data-testid="rerun"]')).toEqual([]);

    // With a valid CSRF token, so that it is the role that refuses.
    const { body: me } = await fetchInPage(b, 'GET', '/auth/session');
    const byHand = await fetchInPage(b, 'DELETE', `/experiments/${experimentId}`, { 'x-csrf-token': me.csrfToken });
    expect(byHand.status).toBe(403);
    expect(byHand.body.message).toMatch(/viewer/);
    expect((await api.request('GET', `/experiments/${experimentId}`)).body.status).toBe('queued');
    expect(unexpectedErrors(b, REFUSALS)).toEqual([]);
  });

  it('a mutating request without the CSRF token is refused, though the session may do it', async () => {
    const b = await browser();
    const { page } = b;
    await page.goto(`/app/experiments/${experimentId}`);
    await signInWithForm(page, api.key);
    await page.waitForSelector('[data-testid="cancel"]');

    const forged = await fetchInPage(b, 'DELETE', `/experiments/${experimentId}`);
    expect(forged.status).toBe(403);
    expect(forged.body.message).toMatch(/x-csrf-token/);
    expect((await api.request('GET', `/experiments/${experimentId}`)).body.status).toBe('queued');

    // The dashboard's own button sends the token: the run is cancelled.
    await page.click('[data-testid="cancel"]');
    await page.waitForSelector('h1 [data-status-badge="cancelled"]');
    expect((await api.request('GET', `/experiments/${experimentId}`)).body.status).toBe('cancelled');
    expect(b.dialogs).toEqual([]);
    expect(unexpectedErrors(b, REFUSALS)).toEqual([]);
  });
});
