import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv, type SweepSpec } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { nextTpeTrial } from '@capillary/search';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-tpe';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'stopped'];
let api: RunningApi;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 5, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: '3000' });
  workers.push(startWorker({ WORKER_ID: 'tpe-a' }), startWorker({ WORKER_ID: 'tpe-b' }));
});
afterAll(async () => {
  // The refused extension's sweep still has a trial queued: no worker of a later file may take it.
  const dataset = await prisma().dataset.findUnique({ where: { name: DATASET } });
  for (const e of await prisma().experiment.findMany({ where: { datasetId: dataset?.id, status: { in: ['queued', 'held', 'running'] } }, select: { id: true } })) await api?.request('DELETE', `/experiments/${e.id}`);
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await api?.close();
});

describe('a TPE sweep through the queue with two workers', () => {
  it('starts with its random trials, decides each later one from the finished trials in their order, and never runs more than startupTrials at once', async () => {
    const base = tinySpec(DATASET, { epochs: 1 });
    const request = { name: 'e2e-tpe', base, strategy: 'tpe', trials: 6, tpe: { startupTrials: 2 }, space: { lr: { loguniform: [1e-3, 5e-2] }, augmentationP: { uniform: [0, 0.5] } }, seed: 4 };
    const created = await api.request('POST', '/sweeps', request);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.experiments).toHaveLength(2);
    const sweepId = created.body.id as string;

    let mostUnfinished = 0;
    const rows = await waitUntil('all six trials to end', async () => {
      const all = await prisma().experiment.findMany({ where: { sweepId }, orderBy: { trialIndex: 'asc' } });
      mostUnfinished = Math.max(mostUnfinished, all.filter((e) => !TERMINAL.includes(e.status)).length);
      return all.length === 6 && all.every((e) => TERMINAL.includes(e.status)) ? all : undefined;
    }, 600_000, 200);
    expect(rows.map((r) => r.status)).toEqual(Array(6).fill('succeeded'));
    expect(rows.map((r) => r.trialIndex)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(mostUnfinished).toBeLessThanOrEqual(2);

    // Each decided trial is what the finished trials before it, in finishing order, call for.
    const limits = parseEnv(process.env);
    for (const trial of rows.slice(2)) {
      const before = rows
        .filter((r) => r.finishedAt! < trial.createdAt)
        .sort((a, b) => a.finishedAt!.getTime() - b.finishedAt!.getTime() || a.trialIndex! - b.trialIndex!)
        .map((r) => ({ spec: r.spec as Record<string, unknown>, score: r.validationScore }));
      const expected = nextTpeTrial(request as SweepSpec, trial.trialIndex!, before, limits).trial!;
      expect(trial.spec).toEqual(expected.spec);
    }
    const sweep = await api.request('GET', `/sweeps/${sweepId}`);
    expect(sweep.body.strategy).toBe('tpe');
    expect(sweep.body.trials).toHaveLength(6);
  });

  it('refuses to extend a TPE sweep, naming the field', async () => {
    const base = tinySpec(DATASET, { epochs: 1 });
    const created = await api.request('POST', '/sweeps', { name: 'e2e-tpe-extend', base, strategy: 'tpe', trials: 2, tpe: { startupTrials: 1 }, space: { lr: { loguniform: [1e-3, 5e-2] } } });
    expect(created.status).toBe(201);
    const res = await api.request('POST', `/sweeps/${created.body.id}/extend`, { trials: 2 });
    expect(res.status).toBe(409);
    expect(JSON.stringify(res.body)).toContain('/trials');
  });
});
