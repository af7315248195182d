import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { tensorDigest } from '../checkpoint-digest.ts';

const DATASET = 'e2e-asha';
let api: RunningApi;
const workers: RunningWorker[] = [];


const experiment = async (id: string) => (await api.request('GET', `/experiments/${id}`)).body;
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'stopped'];

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 5, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  // The reconciler runs as in production; the workers make the decisions as trials pause.
  api = await startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: '3000' });
  workers.push(startWorker({ WORKER_ID: 'asha-a' }), startWorker({ WORKER_ID: 'asha-b' }));
});
afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await api?.close();
});

describe('an ASHA sweep through the queue with two workers', () => {
  it('pauses trials at their rungs, promotes the top half, stops the rest for good, and the winner equals an uninterrupted run', async () => {
    const { epochs: _omit, ...base } = tinySpec(DATASET, { stepsPerEpoch: 6 });
    // Rungs at epochs 1, 2 and 4: 4 trials -> 2 -> 1.
    const asha = { minEpochs: 1, reductionFactor: 2, maxEpochs: 4 };
    const created = await api.request('POST', '/sweeps', { name: 'e2e-asha', base, strategy: 'asha', asha, trials: 4, space: { lr: { loguniform: [1e-3, 5e-2] } }, seed: 2 });
    expect(created.status).toBe(201);
    const ids: string[] = created.body.experiments.map((e: { id: string }) => e.id);

    const rows = await waitUntil('every trial to end', async () => {
      const all = await prisma().experiment.findMany({ where: { sweepId: created.body.id }, include: { epochMetrics: { orderBy: { epoch: 'asc' } }, attemptLog: { orderBy: { number: 'asc' } }, checkpoints: true } });
      return all.every((e) => TERMINAL.includes(e.status)) ? all : undefined;
    }, 600_000, 500);
    const byStatus = (s: string) => rows.filter((r) => r.status === s);
    const rungEpochs = [1, 2, 4];
    expect(byStatus('failed').map((r) => r.errorMessage)).toEqual([]);
    expect(rows.every((r) => r.status === 'stopped' || r.status === 'succeeded')).toBe(true);
    // Which trials finish first depends on the two workers' timing, and promotions are
    // asynchronous (the better of the first two finishers of a rung goes on at once), so the
    // counts per rung may vary; these hold whatever the order.
    for (const r of byStatus('stopped')) {
      expect(r.rung).toBeLessThan(2);
      expect(r.epochMetrics.map((m) => m.epoch)).toEqual(Array.from({ length: rungEpochs[r.rung!] }, (_, i) => i + 1));
    }
    expect(byStatus('stopped').filter((r) => r.rung === 0).length).toBeGreaterThanOrEqual(1);
    const reached = (k: number) => rows.filter((r) => (r.rung ?? 0) >= k).length;
    expect(reached(1)).toBeGreaterThanOrEqual(2); // floor(4 / 2)
    expect(reached(1)).toBeLessThanOrEqual(3);
    expect(byStatus('succeeded').length).toBeGreaterThanOrEqual(1);
    // The best score of rung 0 always goes on (ties are broken by trial index).
    const at = (r: (typeof rows)[number], epoch: number) => Math.max(...r.epochMetrics.filter((m) => m.epoch <= epoch).map((m) => m.surfaceDice ?? m.dice ?? -1));
    const best = (rs: typeof rows, epoch: number) => Math.max(...rs.map((r) => at(r, epoch)));
    expect(best(rows.filter((r) => (r.rung ?? 0) >= 1), 1)).toBe(best(rows, 1));
    const [winner] = byStatus('succeeded');
    expect(winner.rung).toBe(2);
    expect(best(byStatus('succeeded'), 2)).toBe(best(rows.filter((r) => (r.rung ?? 0) >= 1), 2));
    expect(winner.epochMetrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    // Each leg was its own job and attempt, resuming from the checkpoint its pause left.
    expect(winner.attemptLog.map((a) => [a.resumedFromEpoch, a.outcome])).toEqual([[0, 'paused at rung 0'], [1, 'paused at rung 1'], [2, 'succeeded']]);

    // Stopped is terminal: a cancel is refused, and nothing trains it again (checked at the end).
    const epochsNow = rows.reduce((n, r) => n + r.epochMetrics.length, 0);
    expect(epochsNow).toBe(rows.reduce((n, r) => n + (r.status === 'succeeded' ? 4 : rungEpochs[r.rung!]), 0));
    expect((await api.request('DELETE', `/experiments/${byStatus('stopped')[0].id}`)).status).toBe(409);

    // The same spec trained in one go: every epoch's metrics and the final weights and optimiser
    // state are bit-identical to the trial paused twice and resumed (cosine schedule of maxEpochs).
    const reference = await api.request('POST', '/experiments', winner.spec);
    expect(reference.status).toBe(201);
    const ref = await waitUntil('the uninterrupted reference', async () => {
      const e = await experiment(reference.body.id);
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 300_000, 500);
    expect(ref.status, ref.errorMessage ?? '').toBe('succeeded');
    const metrics = (ms: { epoch: number; trainLoss: number; surfaceDice: number | null; learningRate: number }[]) => ms.map((m) => [m.epoch, m.trainLoss, m.surfaceDice, m.learningRate]);
    expect(metrics(winner.epochMetrics)).toEqual(metrics(ref.epochMetrics));
    const last = (cs: { epoch: number; s3Key: string }[]) => cs.find((c) => c.epoch === 4)!.s3Key;
    expect(await tensorDigest(last(winner.checkpoints))).toBe(await tensorDigest(last(ref.checkpoints)));
    expect(ids).toContain(winner.id);
    const after = await prisma().experiment.findMany({ where: { sweepId: created.body.id }, select: { status: true, _count: { select: { epochMetrics: true } } } });
    expect(after.reduce((n, r) => n + r._count.epochMetrics, 0)).toBe(epochsNow);
  }, 900_000);
});
