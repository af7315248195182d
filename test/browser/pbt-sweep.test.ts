import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { startApi, type RunningApi } from '../harness.ts';
import { openBrowser, signIn, unexpectedErrors, type Browser } from './browser.ts';

const prefix = `pbt${randomBytes(3).toString('hex')}`;
let api: RunningApi;
let b: Browser;
let sweepId: string;
const ids: string[] = [];

/** A finished PBT sweep of 4 members over 3 epochs: member 0 copied member 2 at epoch 1, member 1 copied member 0 at epoch 2. */
async function seedPbtSweep() {
  const db = prisma();
  const ds = await db.dataset.create({ data: { name: `${prefix}-ds` } });
  sweepId = randomUUID();
  const space = { lr: { loguniform: [1e-4, 1e-2] }, augmentationP: { uniform: [0, 0.5] } };
  const pbt = { population: 4, perturbationInterval: 1 };
  await db.sweep.create({ data: { id: sweepId, name: `${prefix} pbt`, strategy: 'pbt', grid: { name: `${prefix} pbt`, base: { epochs: 3 }, strategy: 'pbt', space, pbt } } });
  const lrs = [1e-3, 2e-3, 4e-3, 8e-3];
  for (const [i, lr] of lrs.entries()) {
    const id = randomUUID();
    ids.push(id);
    const spec = { dataset: ds.name, model: 'unet', epochs: 3, lr, augmentationP: 0.2 };
    await db.experiment.create({
      data: {
        id, sweepId, datasetId: ds.id, spec, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 3, lr, augmentationP: 0.2, batchSize: 4, seed: 0,
        status: 'succeeded', trialIndex: i, score: 0.5 + i / 10,
        epochMetrics: { create: [1, 2, 3].map((e) => ({ epoch: e, trainLoss: 1, surfaceDice: 0.4 + i / 10 + e / 100, dice: 0.5, learningRate: lr, durationMs: 1 })) },
      },
    });
  }
  await db.pbtExploit.create({ data: { sweepId, experimentId: ids[0], epoch: 1, fromExperimentId: ids[2], fromEpoch: 1, before: { lr: 1e-3, augmentationP: 0.2 }, after: { lr: 0.0048, augmentationP: 0.16 } } });
  await db.pbtExploit.create({ data: { sweepId, experimentId: ids[1], epoch: 2, fromExperimentId: ids[0], fromEpoch: 2, before: { lr: 2e-3, augmentationP: 0.2 }, after: { lr: 0.00576, augmentationP: 0.192 } } });
}

beforeAll(async () => {
  await seedPbtSweep();
  api = await startApi();
  b = await openBrowser(api.url);
  await signIn(b.page, api.key);
});

afterAll(async () => {
  await b?.close();
  await api?.close();
});

describe('PBT sweep page', () => {
  it('draws the lineage: a lane per member, an arrow per exploit, and a table of who copied whom with what changed', async () => {
    const { page } = b;
    await page.goto(`/app/sweeps/${sweepId}`);
    await page.waitForSelector(`section.sweep-page[data-sweep="${sweepId}"]`);
    expect(await page.textContent('[data-testid="strategy"]')).toBe('pbt');
    expect(await page.textContent('[data-testid="sweep-counts"]')).toContain('PBT: population 4');
    expect(await page.locator('[data-testid="lineage"] [data-lane]').count()).toBe(4);
    const arrows = await page.$$eval('[data-testid="lineage"] [data-exploit]', (ls) => ls.map((l) => l.getAttribute('data-exploit')));
    expect(arrows).toEqual([`${ids[0]}@1`, `${ids[1]}@2`]);
    const rows = await page.$$eval('[data-testid="lineage-table"] tbody tr', (trs) => trs.map((tr) => tr.textContent));
    expect(rows).toEqual(['1trial 0trial 2 at epoch 1lr 0.001 → 0.0048, augmentationP 0.2 → 0.16', '2trial 1trial 0 at epoch 2lr 0.002 → 0.00576, augmentationP 0.2 → 0.192']);
    // A population cannot be extended.
    expect(await page.locator('[data-testid="extend"]').count()).toBe(0);
    await b.screenshot('pbt-sweep');
    expect(b.dialogs).toEqual([]);
    expect(unexpectedErrors(b)).toEqual([]);
  });
});
