import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { prisma } from '@capillary/db';
import { startApi, type RunningApi } from '../harness.ts';
import { openBrowser, signIn, unexpectedErrors, type Browser } from './browser.ts';
import { seedBoard, type SeededBoard } from './fixtures.ts';
// Callbacks of page.evaluate/waitForFunction run in the browser; this Node project has no DOM types.
declare const document: any;

const XSS = '<img src=x onerror=alert(1)>';
const prefix = `lb${randomBytes(3).toString('hex')}`;
let api: RunningApi;
let b: Browser;
let board: SeededBoard;
let xssExperimentId: string;

/** The text of one column in the visible rows, in order. */
const column = (key: string, scope = 'body') =>
  b.page.$$eval(`${scope} tbody tr td[data-col="${key}"]`, (cells) => cells.map((c) => (c.textContent ?? '').trim()));
const numbers = (texts: string[]) => texts.filter((t) => t !== '—').map(Number);

beforeAll(async () => {
  board = await seedBoard(prisma(), { prefix, count: 24, perSweep: 8, seed: 3 });
  api = await startApi();
  const created = await api.request('POST', '/experiments', { dataset: `${prefix}-ds`, model: 'unet', epochs: 1, lr: 0.001, augmentationP: 0, name: XSS, notes: XSS });
  expect(created.status).toBe(201);
  xssExperimentId = created.body.id;
  expect((await api.request('POST', '/sweeps', { name: `${prefix} ${XSS}`, base: { dataset: `${prefix}-ds`, model: 'unet', epochs: 1, augmentationP: 0 }, grid: { lr: [0.01] } })).status).toBe(201);
  b = await openBrowser(api.url);
  await signIn(b.page, api.key);
});

afterAll(async () => {
  // Nothing of this file may train later: its experiments have no volumes.
  const queued = await prisma().experiment.findMany({ where: { dataset: { name: `${prefix}-ds` }, status: 'queued' } });
  for (const e of queued) await api.request('DELETE', `/experiments/${e.id}`);
  await b?.close();
  await api?.close();
});

describe('leaderboard page', () => {
  it('filters by a column, ranks by score, and sorts by any column both ways', async () => {
    const { page } = b;
    await page.goto('/');
    await page.fill('input[data-filter="name"]', `${prefix}-`);
    await page.waitForFunction((n) => document.querySelectorAll('tbody tr').length === n, 24);
    // Default order: the API's ranking by validation surface Dice, unscored runs last.
    const scores = numbers(await column('score'));
    expect(scores.length).toBeGreaterThan(15);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));

    // Where each score comes from; a run validated on its own training volumes wears a badge.
    const sources = await column('scoreSource');
    expect(sources).toContain('public test');
    expect(sources).toContain('training volumes');
    expect(await page.$$eval('td[data-col="scoreSource"] [data-validated-on-training]', (els) => els.length)).toBeGreaterThan(0);

    await page.click('button[data-sort="lr"]');
    const up = (await column('lr')).map(Number);
    expect(up).toEqual([...up].sort((x, y) => x - y));
    expect(new Set(up).size).toBeGreaterThan(1);
    await page.click('button[data-sort="lr"]');
    const down = (await column('lr')).map(Number);
    expect(down).toEqual([...down].sort((x, y) => y - x));

    await page.click('button[data-sort="epochs"]');
    const epochs = (await column('epochs')).map(Number);
    expect(epochs).toEqual([...epochs].sort((x, y) => x - y));

    await page.fill('input[data-filter="score"]', '>0.5');
    await page.waitForFunction(() => [...document.querySelectorAll('tbody td[data-col="score"]')].every((c) => Number(c.textContent) > 0.5));
    const high = numbers(await column('score'));
    expect(high.length).toBeGreaterThan(0);
    expect(high.length).toBeLessThan(24);
    await b.screenshot('leaderboard');
  });

  it('groups by sweep, shows only the fields that differ, and hides private scores until the sweep is closed', async () => {
    const { page } = b;
    await page.goto('/');
    await page.fill('input[data-filter="name"]', `${prefix}-`);
    await page.check('[data-testid="group-by-sweep"]');
    await page.waitForFunction((n) => document.querySelectorAll('section.sweep-group').length === n, 3);
    const open = board.sweeps.find((s) => !s.closed)!;
    const closed = board.sweeps.find((s) => s.closed)!;
    const group = (id: string) => `section.sweep-group[data-sweep="${id}"]`;
    const headers = await page.$$eval(`${group(open.id)} thead tr:first-child button[data-sort]`, (bs) => bs.map((x) => x.getAttribute('data-sort')));
    // lr and epochs vary inside a sweep; model, encoder and input mode are the same for all 8 runs.
    expect(headers).toEqual(expect.arrayContaining(['lr', 'epochs', 'score', 'privateScore', 'status', 'backend', 'durationMs']));
    expect(headers).not.toContain('model');
    expect(headers).not.toContain('encoder');
    expect(await page.textContent(`${group(open.id)} .shared`)).toMatch(/model \S+ · encoder \S+/);
    expect(await column('privateScore', group(open.id))).toEqual(Array(8).fill('hidden until closed'));
    const revealed = await column('privateScore', group(closed.id));
    expect(revealed.filter((t) => /^\d\.\d{4}$/.test(t)).length).toBeGreaterThan(4);
    await b.screenshot('leaderboard-grouped');

    await page.click(`${group(open.id)} h2 button`);
    await page.waitForFunction((sel) => ![...document.querySelectorAll(`${sel} td[data-col="privateScore"]`)].some((c) => c.textContent === 'hidden until closed'), group(open.id));
    const sweeps = (await api.request('GET', '/sweeps')).body.items;
    expect(sweeps.find((s: { id: string }) => s.id === open.id).closedAt).not.toBeNull();
  });

  it('renders names as text: an experiment named like an XSS payload opens no dialog and adds no image', async () => {
    const { page } = b;
    await page.goto('/');
    await page.fill('input[data-filter="name"]', '<img');
    await page.waitForSelector(`tr[data-experiment="${xssExperimentId}"]`);
    expect((await page.textContent(`tr[data-experiment="${xssExperimentId}"] td[data-col="name"]`))?.trim()).toBe(XSS);
    await page.fill('input[data-filter="name"]', '');
    await page.check('[data-testid="group-by-sweep"]');
    await page.waitForFunction((name) => [...document.querySelectorAll('section.sweep-group h2')].some((h) => h.textContent?.includes(name)), XSS);

    await page.goto(`/app/experiments/${xssExperimentId}`);
    await page.waitForSelector('[data-testid="spec"]');
    expect(await page.textContent('h1')).toContain(XSS);
    expect(await page.textContent('[data-testid="spec"]')).toContain(XSS);
    await page.waitForTimeout(300);
    expect(await page.$$('img[src="x"]')).toEqual([]);
    expect(b.dialogs).toEqual([]);
    expect(unexpectedErrors(b)).toEqual([]);
  });

  it('re-run queues the same spec as a new experiment; cancel stops it', async () => {
    const { page } = b;
    await page.goto(`/app/experiments/${xssExperimentId}`);
    await page.click('[data-testid="rerun"]');
    await page.waitForURL((u) => u.pathname.startsWith('/app/experiments/') && !u.pathname.endsWith(xssExperimentId));
    const rerunId = page.url().split('/').pop()!.split('?')[0];
    const [original, copy] = await Promise.all([api.request('GET', `/experiments/${xssExperimentId}`), api.request('GET', `/experiments/${rerunId}`)]);
    expect(copy.body.spec).toEqual(original.body.spec);
    await page.waitForSelector('h1 [data-status-badge="queued"]');
    await page.click('[data-testid="cancel"]');
    await page.waitForSelector('h1 [data-status-badge="cancelled"]');
    expect((await api.request('GET', `/experiments/${rerunId}`)).body.status).toBe('cancelled');
    expect(await page.isDisabled('[data-testid="cancel"]')).toBe(true);
    expect(b.dialogs).toEqual([]);
  });
});
