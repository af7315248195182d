// A sweep's concurrency cap against real workers and a real Redis restart: a 12-cell grid with
// maxConcurrent 2 on four workers never has more than two trials queued or running, releases the
// held ones in trial order, and finishes every cell.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { stackProfile, startService, stopService } from '@capillary/devstack';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { outage } from '../drills/kit.ts';

const DATASET = 'e2e-sweep-cap';
const profile = stackProfile('test');
let api: RunningApi;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 8, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: '1000' });
  for (const id of ['cap-a', 'cap-b', 'cap-c', 'cap-d']) workers.push(startWorker({ WORKER_ID: id }));
});
afterAll(async () => {
  await startService(profile, 'redis').catch(() => undefined);
  // Nothing of this file is left for a worker of a later file to take: every unfinished trial is
  // cancelled (a held one has no job; a queued one loses its job) and none is running any more.
  const dataset = await prisma().dataset.findUnique({ where: { name: DATASET } });
  const unfinished = { datasetId: dataset?.id, status: { in: ['queued', 'held', 'running', 'paused'] as ('queued' | 'held' | 'running' | 'paused')[] } };
  for (const e of await prisma().experiment.findMany({ where: unfinished, select: { id: true } })) await api?.request('DELETE', `/experiments/${e.id}`);
  await waitUntil('no trial of this file to run', async () => ((await prisma().experiment.count({ where: { datasetId: dataset?.id, status: 'running' } })) === 0 ? true : undefined), 60_000, 200);
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await api?.close();
});

/**
 * Every 100 ms: the sweep's rows, for the most seen at once. A row is running from the attempt's
 * open to its commit; BullMQ's active jobs are not sampled, since a job stays active for the
 * moments its worker takes to hand back after the row has ended, when a place is already free.
 */
function sampleEvery100ms(sweepId: string) {
  const seen = { running: 0, occupying: 0, openAttempts: 0, samples: 0, outOfOrder: [] as string[] };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const rows = await prisma().experiment.findMany({ where: { sweepId }, select: { status: true, trialIndex: true } });
      seen.running = Math.max(seen.running, rows.filter((r) => r.status === 'running').length);
      seen.occupying = Math.max(seen.occupying, rows.filter((r) => r.status === 'running' || r.status === 'queued').length);
      // Released in order: every held trial comes after every trial that was ever let go.
      const held = rows.filter((r) => r.status === 'held').map((r) => r.trialIndex!);
      const out = rows.filter((r) => r.status !== 'held').map((r) => r.trialIndex!);
      if (held.length && out.length && Math.min(...held) < Math.max(...out)) seen.outOfOrder.push(`held ${held} while ${out} were out`);
      const open = await prisma().attempt.count({ where: { endedAt: null, experiment: { sweepId } } });
      seen.openAttempts = Math.max(seen.openAttempts, open);
      seen.samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    seen,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

describe('a sweep with maxConcurrent', () => {
  it('never runs more than its cap on four workers, also across a Redis restart, and finishes all 12 cells in order', async () => {
    const base = tinySpec(DATASET, { epochs: 2, stepsPerEpoch: 2 });
    const created = await api.request('POST', '/sweeps', { name: 'e2e-cap', base, grid: { seed: Array.from({ length: 12 }, (_, i) => i + 1) }, maxConcurrent: 2 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.maxConcurrent).toBe(2);
    const statuses = (created.body.experiments as { status: string }[]).map((e) => e.status);
    expect(statuses).toEqual([...Array(2).fill('queued'), ...Array(10).fill('held')]);
    const sweepId = created.body.id as string;

    const sampler = sampleEvery100ms(sweepId);
    try {
      // Part-way through, Redis goes away with its data: the reconciler re-creates the jobs and the releases.
      await waitUntil('three cells to finish', async () => ((await prisma().experiment.count({ where: { sweepId, status: 'succeeded' } })) >= 3 ? true : undefined), 300_000, 200);
      await stopService(profile, 'redis', { wipe: true });
      await outage(3000);
      await startService(profile, 'redis');

      const rows = await waitUntil('all 12 cells to end', async () => {
        const all = await prisma().experiment.findMany({ where: { sweepId }, orderBy: { trialIndex: 'asc' } });
        return all.every((e) => ['succeeded', 'failed', 'cancelled'].includes(e.status)) ? all : undefined;
      }, 600_000, 500);
      expect(rows.map((r) => r.status)).toEqual(Array(12).fill('succeeded'));
      expect(rows.every((r) => r.epochs === 2)).toBe(true);
    } finally {
      await sampler.stop();
    }
    const { seen } = sampler;
    expect(seen.samples).toBeGreaterThan(50);
    expect(seen.running).toBe(2); // the cap was used, and never passed
    expect(seen.occupying).toBeLessThanOrEqual(2);
    expect(seen.openAttempts).toBeLessThanOrEqual(2);
    expect(seen.outOfOrder).toEqual([]);
    for (const w of workers) expect(w.process.exitCode, w.output.slice(-20).join('\n')).toBeNull();

    const detail = await api.request('GET', `/sweeps/${sweepId}`);
    expect(detail.body.maxConcurrent).toBe(2);
  });

  it("caps a sweep that names no maxConcurrent by its project's default, and refuses a bad cap naming the field", async () => {
    const bad = await api.request('POST', '/sweeps', { name: 'e2e-cap-bad', base: tinySpec(DATASET), grid: { seed: [1, 2] }, maxConcurrent: 0 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('maxConcurrent');

    const project = await prisma().project.findFirstOrThrow({ where: { name: 'default' } });
    const set = await api.request('PATCH', '/projects/default', { sweepMaxConcurrent: 1 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body).toEqual({ name: 'default', sweepMaxConcurrent: 1 });
    try {
      const base = tinySpec(DATASET, { epochs: 1, stepsPerEpoch: 1 });
      const created = await api.request('POST', '/sweeps', { name: 'e2e-cap-default', base, grid: { seed: [1, 2, 3] } });
      expect(created.status).toBe(201);
      expect(created.body.maxConcurrent).toBe(1);
      expect((created.body.experiments as { status: string }[]).map((e) => e.status)).toEqual(['queued', 'held', 'held']);
    } finally {
      await prisma().project.update({ where: { id: project.id }, data: { sweepMaxConcurrent: null } });
    }
  });
});
