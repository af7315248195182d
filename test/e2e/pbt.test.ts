import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SweepSpec } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { learningRateAt } from '@capillary/engine';
import { decidePbt, sampleTrial } from '@capillary/search';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-pbt';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'stopped'];
let api: RunningApi;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 6, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: '3000' });
  // Every checkpoint kept, so the copies can be compared with their donors' after the run.
  workers.push(startWorker({ WORKER_ID: 'pbt-a', CHECKPOINT_KEEP_LAST: '10' }), startWorker({ WORKER_ID: 'pbt-b', CHECKPOINT_KEEP_LAST: '10' }));
});
afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await api?.close();
});

describe('a PBT sweep through the queue with two workers', () => {
  it('at each interval the bottom member copies a top member\'s checkpoint with lineage, resumes from it with perturbed hyperparameters, and all members finish', async () => {
    const space = { lr: { loguniform: [1e-3, 5e-2] }, augmentationP: { uniform: [0, 0.5] } };
    const request = { name: 'e2e-pbt', base: tinySpec(DATASET, { epochs: 3 }), strategy: 'pbt', space, seed: 11, pbt: { population: 4, perturbationInterval: 1 } };
    const created = await api.request('POST', '/sweeps', request);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.experiments).toHaveLength(4);
    const sweepId = created.body.id as string;

    const rows = await waitUntil('all four members to end', async () => {
      const all = await prisma().experiment.findMany({ where: { sweepId }, orderBy: { trialIndex: 'asc' }, include: { epochMetrics: { orderBy: { epoch: 'asc' } }, attemptLog: true, checkpoints: true } });
      return all.every((e) => TERMINAL.includes(e.status)) ? all : undefined;
    }, 600_000, 200);
    expect(rows.map((r) => r.status)).toEqual(Array(4).fill('succeeded'));
    for (const r of rows) expect(r.epochMetrics.map((m) => m.epoch)).toEqual([1, 2, 3]);

    // One exploit per interval (a quarter of 4, at least one), at epochs 1 and 2.
    const lineage = await prisma().pbtExploit.findMany({ where: { sweepId }, orderBy: { epoch: 'asc' } });
    expect(lineage.map((l) => l.epoch)).toEqual([1, 2]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const l of lineage) {
      const member = byId.get(l.experimentId)!;
      const donor = byId.get(l.fromExperimentId)!;
      expect(l.fromEpoch).toBe(l.epoch);
      // The member's checkpoint of that epoch is a row of its own holding the donor's bytes.
      const copy = member.checkpoints.find((c) => c.epoch === l.epoch)!;
      const original = donor.checkpoints.find((c) => c.epoch === l.epoch)!;
      expect(copy.copiedFromExperimentId).toBe(donor.id);
      expect(copy.copiedFromEpoch).toBe(l.epoch);
      expect(copy.sha256).toBe(original.sha256);
      expect(copy.s3Key).not.toBe(original.s3Key);
      // It resumed from that epoch, in an attempt opened after the decision.
      const resumed = member.attemptLog.filter((a) => a.startedAt >= l.createdAt);
      expect(resumed.map((a) => a.resumedFromEpoch)).toContain(l.epoch);
      expect(member.attemptLog.map((a) => a.outcome)).toContain(`paused at epoch ${l.epoch}`);
      // Its epoch-`epoch` score ranked last; the donor's ranked first.
      const scoreAt = (e: typeof member) => e.epochMetrics.find((m) => m.epoch === l.epoch)!.surfaceDice!;
      expect(scoreAt(donor)).toBeGreaterThanOrEqual(scoreAt(member));
      const after = l.after as Record<string, number>;
      expect(Object.keys(after).sort()).toEqual(['augmentationP', 'lr']);
      // The schedule follows the new lr: the next epoch's last step is the cosine of the new peak.
      const nextEpoch = member.epochMetrics.find((m) => m.epoch === l.epoch + 1)!;
      const steps = request.base.stepsPerEpoch;
      expect(nextEpoch.learningRate).toBeCloseTo(learningRateAt((l.epoch + 1) * steps - 1, { peak: after.lr, warmupSteps: 0, totalSteps: 3 * steps }), 9);
    }
    // The last exploit of a member decides its final spec.
    for (const l of lineage) {
      const later = lineage.filter((x) => x.experimentId === l.experimentId && x.epoch > l.epoch);
      if (!later.length) expect({ lr: byId.get(l.experimentId)!.lr, augmentationP: byId.get(l.experimentId)!.augmentationP }).toEqual(l.after);
    }

    // The first decision is decidePbt's on the members' epoch-1 scores, in the order they reached it.
    const arrived = [...rows].sort((a, b) => a.epochMetrics[0].createdAt.getTime() - b.epochMetrics[0].createdAt.getTime() || a.trialIndex! - b.trialIndex!);
    const first = decidePbt(request as SweepSpec, 1, arrived.map((r) => ({ index: r.trialIndex!, score: r.epochMetrics[0].surfaceDice, params: sampleTrial(space, 11, r.trialIndex!) })));
    expect(first.map((e) => [rows[e.member].id, rows[e.donor].id, e.params])).toEqual([[lineage[0].experimentId, lineage[0].fromExperimentId, lineage[0].after]]);

    const sweep = await api.request('GET', `/sweeps/${sweepId}`);
    expect(sweep.status).toBe(200);
    expect(sweep.body.strategy).toBe('pbt');
    expect(sweep.body.pbt).toEqual({ population: 4, perturbationInterval: 1 });
    expect(sweep.body.lineage).toEqual(lineage.map((l) => ({ experimentId: l.experimentId, epoch: l.epoch, fromExperimentId: l.fromExperimentId, fromEpoch: l.fromEpoch, before: l.before, after: l.after })));
  });

  it('refuses a bad population or a pbt extension, naming the field', async () => {
    const base = tinySpec(DATASET, { epochs: 2 });
    const space = { lr: { loguniform: [1e-3, 5e-2] } };
    const bad = await api.request('POST', '/sweeps', { name: 'e2e-pbt-bad', base, strategy: 'pbt', space, pbt: { population: 1, perturbationInterval: 1 } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('pbt/population');
    const late = await api.request('POST', '/sweeps', { name: 'e2e-pbt-late', base, strategy: 'pbt', space, pbt: { population: 2, perturbationInterval: 2 } });
    expect(late.status).toBe(400);
    expect(JSON.stringify(late.body)).toContain('/pbt/perturbationInterval');
    const created = await api.request('POST', '/sweeps', { name: 'e2e-pbt-extend', base, strategy: 'pbt', space, pbt: { population: 2, perturbationInterval: 1 } });
    expect(created.status).toBe(201);
    const res = await api.request('POST', `/sweeps/${created.body.id}/extend`, { trials: 2 });
    expect(res.status).toBe(409);
    expect(JSON.stringify(res.body)).toContain('/trials');
  });
});
