import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { ExperimentRegistry } from './experiments.ts';

const db = prisma();
const experiments = new ExperimentRegistry(db);
let datasetId: string;

const trials = (sweepId: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => ({
  id: randomUUID(), sweepId, spec: { seed: from + i }, datasetId, trialIndex: from + i,
  model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.01, augmentationP: 0, batchSize: 1, seed: from + i,
}));
const statuses = async (sweepId: string) =>
  (await db.experiment.findMany({ where: { sweepId }, orderBy: { trialIndex: 'asc' }, select: { status: true } })).map((r) => r.status);

beforeAll(async () => {
  datasetId = (await db.dataset.create({ data: { name: `sweep-cap-${randomUUID().slice(0, 8)}` } })).id;
});
afterAll(async () => {
  await db.experiment.deleteMany({ where: { datasetId } });
  await db.sweep.deleteMany({ where: { name: 'sweep-cap-test' } });
  await db.dataset.delete({ where: { id: datasetId } });
});

describe('a capped sweep (maxConcurrent)', () => {
  it('queues the first trials up to its cap, holds the rest, and releases them in trial order as places come free', async () => {
    const sweepId = randomUUID();
    const { placed } = await experiments.sweeps.createSweep({ id: sweepId, name: 'sweep-cap-test', grid: {}, maxConcurrent: 2 }, trials(sweepId, 6));
    expect(placed.map((p) => p.status)).toEqual(['queued', 'queued', 'held', 'held', 'held', 'held']);

    // Many deciders at once (workers and the reconciler) release nothing past the cap.
    const rounds = await Promise.all(Array.from({ length: 6 }, () => experiments.sweeps.release(sweepId)));
    expect(rounds.flat()).toEqual([]);

    const [first] = await db.experiment.findMany({ where: { sweepId, trialIndex: 0 } });
    await experiments.cancel(first.id);
    const again = await Promise.all(Array.from({ length: 6 }, () => experiments.sweeps.release(sweepId)));
    expect(again.flat()).toHaveLength(1);
    expect(await statuses(sweepId)).toEqual(['cancelled', 'queued', 'queued', 'held', 'held', 'held']);

    // A held trial can be cancelled; the re-run of a capped sweep holds its cells behind the others.
    const held = await db.experiment.findFirstOrThrow({ where: { sweepId, trialIndex: 5 } });
    await experiments.cancel(held.id);
    const rerun = await experiments.sweeps.rerunSweep(sweepId);
    expect(rerun.map((r) => r.status)).toEqual(['held', 'held']);
    expect(await statuses(sweepId)).toEqual(['held', 'queued', 'queued', 'held', 'held', 'held']);
  });

  it('gives an extension the free places after the trials held before it', async () => {
    const sweepId = randomUUID();
    await experiments.sweeps.createSweep({ id: sweepId, name: 'sweep-cap-test', grid: {}, maxConcurrent: 3 }, trials(sweepId, 2));
    const { placed, queued } = await experiments.sweeps.addToSweep(sweepId, trials(sweepId, 3, 2));
    expect(placed.map((p) => p.status)).toEqual(['queued', 'held', 'held']);
    expect(queued.map((r) => r.id)).toEqual([placed[0].id]);
    expect(await statuses(sweepId)).toEqual(['queued', 'queued', 'queued', 'held', 'held']);
  });

  it('without a cap, queues every trial at once', async () => {
    const sweepId = randomUUID();
    const { placed } = await experiments.sweeps.createSweep({ id: sweepId, name: 'sweep-cap-test', grid: {} }, trials(sweepId, 3));
    expect(placed.map((p) => p.status)).toEqual(['queued', 'queued', 'queued']);
    expect(await experiments.sweeps.release(sweepId)).toEqual([]);
  });
});
