import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { startApi, type RunningApi } from '../harness.ts';
import { openBrowser, signIn, unexpectedErrors, type Browser } from './browser.ts';
// Callbacks of page.evaluate/waitForFunction run in the browser; this Node project has no DOM types.
declare const document: any;

const prefix = `sw${randomBytes(3).toString('hex')}`;
let api: RunningApi;
let b: Browser;
let sweepId: string;
/** Trial ids by what the seeded ASHA sweep did with them. */
const ids = { rung1: [] as string[], winner: '', stopped0: [] as string[], cancelled: '' };

/**
 * An ASHA sweep as it stands after running (rungs at 1, 3 and 9 epochs): six trials finished rung
 * 0, two went on, one of them to the end; a seventh was cancelled before its first epoch.
 */
async function seedAshaSweep() {
  const db = prisma();
  const ds = await db.dataset.create({ data: { name: `${prefix}-ds` } });
  sweepId = randomUUID();
  const asha = { minEpochs: 1, reductionFactor: 3, maxEpochs: 9 };
  const space = { lr: { loguniform: [1e-4, 1e-2] }, model: { choice: ['unet', 'unet25d'] } };
  await db.sweep.create({ data: { id: sweepId, name: `${prefix} asha`, strategy: 'asha', asha, grid: { name: `${prefix} asha`, base: {}, strategy: 'asha', asha, trials: 7, space } } });
  const trials = [
    { lr: 1e-4, model: 'unet', scores: [0.2], status: 'stopped', rung: 0 },
    { lr: 3e-4, model: 'unet25d', scores: [0.5, 0.55, 0.6], status: 'stopped', rung: 1 },
    { lr: 1e-3, model: 'unet', scores: [0.6, 0.7, 0.72, 0.75, 0.76, 0.8, 0.81, 0.82, 0.83], status: 'succeeded', rung: 2 },
    { lr: 2e-3, model: 'unet25d', scores: [0.3], status: 'stopped', rung: 0 },
    { lr: 5e-3, model: 'unet', scores: [0.1], status: 'stopped', rung: 0 },
    { lr: 8e-3, model: 'unet', scores: [0.25], status: 'stopped', rung: 0 },
    { lr: 6e-4, model: 'unet', scores: [], status: 'cancelled', rung: 0 },
  ] as const;
  for (const [i, t] of trials.entries()) {
    const id = randomUUID();
    const spec = { dataset: ds.name, model: t.model, epochs: 9, lr: t.lr, augmentationP: 0.5 };
    await db.experiment.create({
      data: {
        id, sweepId, datasetId: ds.id, spec, model: t.model, encoder: 'plain', inputMode: '2d', epochs: 9, lr: t.lr, augmentationP: 0.5, batchSize: 4, seed: 0,
        status: t.status, rung: t.rung, trialIndex: i, score: t.scores.length ? Math.max(...t.scores) : null,
        epochMetrics: { create: t.scores.map((s, e) => ({ epoch: e + 1, trainLoss: 1 - s, surfaceDice: s, dice: s, learningRate: t.lr, durationMs: 1 })) },
      },
    });
    // What the trial cost: one attempt of 30 s per rung it trained, the winner's first one handed over.
    for (let k = 0; k <= (t.scores.length ? t.rung : -1); k++) {
      const startedAt = new Date(Date.UTC(2026, 0, 1, 0, i, 0) + k * 60_000);
      const outcome = t.status === 'succeeded' && k === 0 ? 'handed over: worker shut down' : 'paused';
      await db.attempt.create({ data: { experimentId: id, number: k + 1, workerId: 'w', backend: 'wasm', startedAt, endedAt: new Date(startedAt.getTime() + 30_000), outcome } });
    }
    if (t.rung >= 1) ids.rung1.push(id);
    if (t.status === 'succeeded') ids.winner = id;
    if (t.status === 'stopped' && t.rung === 0) ids.stopped0.push(id);
    if (t.status === 'cancelled') ids.cancelled = id;
  }
}

beforeAll(async () => {
  await seedAshaSweep();
  api = await startApi();
  b = await openBrowser(api.url);
  await signIn(b.page, api.key);
});

afterAll(async () => {
  // The re-run queued a run of a dataset without volumes: nothing of this file may train later.
  const left = await prisma().experiment.findMany({ where: { sweepId, status: { in: ['queued', 'running'] } } });
  for (const e of left) await api.request('DELETE', `/experiments/${e.id}`);
  await b?.close();
  await api?.close();
});

describe('sweep page', () => {
  it('draws parameters against score, score per parameter, the ASHA rungs and the selected curves, and re-runs the cancelled trial', async () => {
    const { page } = b;
    // Reached from the leaderboard grouped by sweep.
    await page.goto('/');
    await page.check('[data-testid="group-by-sweep"]');
    await page.click(`section.sweep-group[data-sweep="${sweepId}"] a[data-testid="sweep-link"]`);
    await page.waitForSelector(`section.sweep-page[data-sweep="${sweepId}"]`);
    expect(page.url()).toContain(`/app/sweeps/${sweepId}`);
    expect(await page.textContent('[data-testid="strategy"]')).toBe('asha');

    // Parallel coordinates: one line per trial over lr, model and score, drawn on a canvas.
    const parallel = page.locator('[data-chart="parallel"]');
    expect(await parallel.getAttribute('data-lines')).toBe('7');
    expect(await parallel.getAttribute('data-axes')).toBe('lr,model,surface Dice');
    await page.waitForFunction(() => {
      const c = document.querySelector('[data-chart="parallel"] canvas');
      return c && c.width > 100 && c.height > 100;
    });
    // Score against each parameter: the six scored trials.
    expect(await page.getAttribute('[data-chart="score vs lr"]', 'data-points')).toBe('6');
    expect(await page.getAttribute('[data-chart="score vs model"]', 'data-points')).toBe('6');
    expect(await page.locator('[data-chart="score vs lr"] canvas').count()).toBe(1);

    // The rungs: trials that finished each, who went on, who stopped there.
    const rung = (k: number, col: string) => page.textContent(`[data-testid="rungs"] tr[data-rung="${k}"] td[data-col="${col}"]`);
    expect([await rung(0, 'finished'), await rung(1, 'finished'), await rung(2, 'finished')]).toEqual(['6', '2', '1']);
    expect([await rung(0, 'stopped'), await rung(1, 'stopped'), await rung(2, 'stopped')]).toEqual(['4', '1', '0']);
    const promoted = (k: number) => page.$$eval(`[data-testid="rungs"] tr[data-rung="${k}"] a[data-trial]`, (as) => as.map((a) => a.getAttribute('data-trial')));
    expect((await promoted(0)).sort()).toEqual([...ids.rung1].sort());
    expect(await promoted(1)).toEqual([ids.winner]);
    // Trials table: status and rung of each.
    expect(await page.textContent(`[data-testid="trials"] tr[data-trial="${ids.stopped0[0]}"] td[data-col="rung"]`)).toBe('0');

    // Curves: the best three by default; then exactly the two ticked ones.
    const legendSeries = () => page.locator('[data-chart="surface Dice of selected trials"] .u-legend .u-series').count();
    await page.waitForSelector('[data-chart="surface Dice of selected trials"] canvas');
    expect(await legendSeries()).toBe(1 + 3);
    expect(await page.getAttribute('[data-chart="surface Dice of selected trials"]', 'data-points')).toBe('9');
    const ticked = page.locator('[data-testid="trials"] input[type="checkbox"]:checked');
    while ((await ticked.count()) > 0) await ticked.first().uncheck();
    await page.waitForSelector('[data-chart="surface Dice of selected trials"]', { state: 'detached' });
    await page.check(`[data-testid="trials"] tr[data-trial="${ids.winner}"] input[type="checkbox"]`);
    await page.check(`[data-testid="trials"] tr[data-trial="${ids.stopped0[1]}"] input[type="checkbox"]`);
    await page.waitForFunction(() => document.querySelectorAll('[data-chart="surface Dice of selected trials"] .u-legend .u-series').length === 3);
    await b.screenshot('sweep');

    // Re-run: the cancelled trial goes back to the queue.
    await page.click('[data-testid="rerun"]');
    await page.waitForFunction((id) => document.querySelector(`[data-testid="trials"] tr[data-trial="${id}"] [data-status-badge]`)?.textContent === 'queued', ids.cancelled);
    expect((await prisma().experiment.findUniqueOrThrow({ where: { id: ids.cancelled } })).status).toBe('queued');
    expect(b.dialogs).toEqual([]);
    expect(unexpectedErrors(b)).toEqual([]);
  });

  it("shows the sweep's worker time on the usage page, every attempt summed, hand-overs counted", async () => {
    const { page } = b;
    await page.goto('/app/usage');
    await page.selectOption('[data-testid="usage-by"]', 'sweep');
    const row = `[data-testid="usage"] tr[data-group="${sweepId}"]`;
    await page.waitForSelector(row);
    expect(page.url()).toContain('/app/usage?by=sweep');
    // Six scored trials: rungs 0, 1 and 2 give 1 + 2 + 3 attempts of 30 s (4 x 1, 1 x 2, 1 x 3 = 9).
    expect(await page.getAttribute(`${row} td[data-seconds]`, 'data-seconds')).toBe('270');
    const cells = await page.$$eval(`${row} td.num`, (tds) => tds.map((td) => td.textContent));
    expect(cells.slice(1)).toEqual(['9', '1', '0', '6']);
    expect(await page.textContent(`${row} a`)).toBe(`${prefix} asha`);
    expect(unexpectedErrors(b)).toEqual([]);
  });
});
