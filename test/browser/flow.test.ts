import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { localStorageEntries, openBrowser, signInWithForm, unexpectedErrors, type Browser } from './browser.ts';
// Callbacks of page.evaluate/waitForFunction run in the browser; this Node project has no DOM types.
declare const document: any;

// The whole loop through the dashboard, with real training on this CPU: submit a sweep with the
// form, watch it train, compare, open an experiment, predict and look at the prediction.
const DATASET = 'browser-kidney';
const SWEEP = `browser sweep ${randomBytes(3).toString('hex')}`;
const TRAINING_MS = 420_000;
let api: RunningApi;
let worker: RunningWorker;
let b: Browser;

/** A long wait on the worker: when it times out, the worker's last lines say why. */
async function onWorker<T>(wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- worker output ---\n${worker.output.slice(-40).join('\n')}`);
  }
}

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 5, trainVolumes: 1, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi();
  worker = startWorker();
  b = await openBrowser(api.url);
});

afterAll(async () => {
  await b?.close();
  await worker?.stop();
  await api?.close();
});

describe('the dashboard, end to end', () => {
  it('submit form: signs in with a key, shows the API validation messages per field', async () => {
    const { page } = b;
    await page.goto('/app/queue');
    // Reads need a sign-in: the page asks for it first, and the key is not kept in the browser.
    await signInWithForm(page, api.key);
    expect(Object.values(await localStorageEntries(page))).not.toContain(api.key);
    await page.waitForSelector('[data-testid="experiment-form"]');
    await page.selectOption('[data-testid="experiment-form"] select[name="dataset"]', DATASET);
    await page.fill('[data-testid="experiment-form"] input[name="epochs"]', 'abc');
    await page.fill('[data-testid="experiment-form"] input[name="lr"]', '5');
    await page.click('[data-testid="experiment-form"] button[type="submit"]');
    await page.waitForSelector('[data-field-error="epochs"]');
    expect(await page.textContent('[data-field-error="epochs"]')).toMatch(/integer/i);
    expect(await page.textContent('[data-field-error="lr"]')).toMatch(/1/);

    // The sweep form: a bad value inside the grid is shown under that grid field.
    await page.click('[data-testid="sweep-tab"]');
    await page.fill('[data-testid="sweep-form"] input[name="name"]', SWEEP);
    await page.fill('input[name="grid.model"]', 'unet');
    await page.fill('input[name="grid.epochs"]', '2');
    await page.fill('input[name="grid.lr"]', '0.003, 7');
    await page.selectOption('[data-testid="sweep-form"] select[name="base.dataset"]', DATASET);
    await page.click('[data-testid="sweep-form"] button[type="submit"]');
    await page.waitForSelector('[data-field-error="grid.lr"]');
    await b.screenshot('queue-validation');
  });

  it('a sweep submitted with the form appears on the leaderboard, updates live, and can be sorted', async () => {
    const { page } = b;
    await page.fill('input[name="grid.lr"]', '0.003, 0.001');
    expect(await page.textContent('[data-testid="grid-size"]')).toContain('expands to 2 experiments');
    await page.click('[data-testid="sweep-form"] button[type="submit"]');
    await page.waitForSelector('[data-testid="sweep-form"] [data-testid="created"]');
    await page.waitForSelector('[data-testid="workers"] tbody tr');
    await b.screenshot('queue');

    await page.click('nav.top a:has-text("Leaderboard")');
    await page.fill('input[data-filter="sweepName"]', SWEEP);
    await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 2);
    // Open the run that is not training yet: its page follows it from queued to succeeded over SSE.
    const waiting = await page.$eval('tbody tr:not([data-status="running"])', (tr) => tr.getAttribute('data-experiment'));
    await page.click(`tr[data-experiment="${waiting}"] td[data-col="name"] a`);
    await page.waitForSelector('[data-testid="live"]:has-text("live")');
    await onWorker(page.waitForFunction(() => document.querySelector('[data-testid="epochs-done"] .stat-value')?.textContent === '2 / 2', undefined, { timeout: TRAINING_MS }));
    await page.waitForSelector('h1 [data-status-badge="succeeded"]', { timeout: 60_000 });
    await page.waitForSelector('[data-chart="Dice"][data-points="2"]');
    await page.waitForSelector('[data-testid="checkpoints"] tbody tr:nth-child(2)');
    expect(await page.textContent('[data-testid="attempts"] tbody')).toContain('succeeded');
    await b.screenshot('experiment');

    await page.click('nav.top a:has-text("Leaderboard")');
    await page.fill('input[data-filter="sweepName"]', SWEEP);
    await onWorker(page.waitForFunction(() => [...document.querySelectorAll('tbody tr')].filter((r) => r.getAttribute('data-status') === 'succeeded').length === 2, undefined, { timeout: TRAINING_MS }));
    await page.click('button[data-sort="lr"]');
    expect(await page.$$eval('tbody td[data-col="lr"]', (c) => c.map((x) => x.textContent))).toEqual(['1e-3', '3e-3']);
    expect(await page.$$eval('tbody td[data-col="score"]', (c) => c.map((x) => x.textContent)).then((s) => s.every((t) => /^\d\.\d{4}$/.test(t!)))).toBe(true);
    await b.screenshot('leaderboard-live');
  });

  it('the prediction viewer: image and truth first, then TP / FP / FN over slices on three axes, and 3D', async () => {
    const { page } = b;
    await page.click('tbody tr:first-child td[data-col="name"] a');
    await page.click('a.button:has-text("predictions")');
    await page.waitForSelector('[data-testid="no-prediction"]');
    await page.waitForSelector('canvas[data-testid="slice-canvas"][data-rendered="xy:8"]');
    await page.click('[data-testid="no-prediction"] button');
    await onWorker(page.waitForSelector('[data-testid="slice-counts"]', { timeout: 180_000 }));
    const counts = await page.textContent('[data-testid="slice-counts"]');
    expect(counts).toMatch(/TP \d+ .*FP \d+ .*FN \d+/);

    await page.click('button[aria-label="next slice"]');
    await page.waitForSelector('canvas[data-rendered="xy:9"]');
    expect(await page.textContent('[data-testid="slice-label"]')).toContain('slice 10 / 16');
    await page.focus('[data-testid="slice-slider"]');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await page.waitForSelector('canvas[data-rendered="xy:7"]');

    await page.check('input[name="axis"][value="xz"]');
    await page.waitForSelector('canvas[data-rendered="xz:24"]');
    expect(await page.$eval('canvas[data-testid="slice-canvas"]', (c: any) => [c.width, c.height])).toEqual([48, 16]);
    await page.check('input[name="axis"][value="yz"]');
    await page.waitForSelector('canvas[data-rendered="yz:24"]');
    // The slice really shows the overlay colours, not just grey.
    const coloured = await page.$eval('canvas[data-testid="slice-canvas"]', (c: any) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) n++;
      return n;
    });
    expect(coloured).toBeGreaterThan(0);
    await page.waitForSelector('[data-testid="view3d-truth"][data-state="ready"]', { timeout: 60_000 });
    await page.waitForSelector('[data-testid="view3d-prediction"][data-state="ready"]', { timeout: 60_000 });
    await page.waitForTimeout(500);
    await b.screenshot('predictions');
    expect(b.dialogs).toEqual([]);
    // The first test's refused submissions log their 400s; nothing else may fail.
    // The first load, before signing in, is refused (401).
    expect(unexpectedErrors(b, [/status of 400/, /status of 401/])).toEqual([]);
  });
});
