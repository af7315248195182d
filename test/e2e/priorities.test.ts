import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-priorities';
let api: RunningApi;
let worker: RunningWorker | undefined;
let keyB: string;
const asB = () => ({ auth: false, headers: { authorization: `Bearer ${keyB}` } });
const spec = (over: Record<string, unknown> = {}) => tinySpec(DATASET, { epochs: 1, stepsPerEpoch: 1, ...over });

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 5, trainVolumes: 1, validationVolumes: 1, shape: [8, 32, 32] });
  api = await startApi();
  keyB = (await api.app.apiKeys.create('priorities-b')).key;
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

describe('priorities and fair share', () => {
  it('refuses a priority outside 1..10 on experiments and sweeps, naming the field, and writes nothing', async () => {
    const before = await prisma().experiment.count();
    const bad = await api.request('POST', '/experiments', { ...spec(), priority: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('priority');
    expect(bad.body.issues[0].field).toContain('priority');
    const badSweep = await api.request('POST', '/sweeps', { name: 'bad-priority', priority: 11, base: spec(), grid: { seed: [1, 2] } });
    expect(badSweep.status).toBe(400);
    expect(badSweep.body.issues[0].field).toContain('priority');
    expect(await prisma().experiment.count()).toBe(before);
  });

  it("key A's 100 queued runs do not starve key B's one: B's run is the next to start", async () => {
    // No worker runs while both queue.
    const sweep = await api.request('POST', '/sweeps', {
      name: 'fair-share-a',
      priority: 5,
      base: spec(),
      grid: { seed: Array.from({ length: 50 }, (_, i) => i), lr: [0.003, 0.002] },
    });
    expect(sweep.status, JSON.stringify(sweep.body)).toBe(201);
    const aIds: string[] = sweep.body.experiments.map((e: { id: string }) => e.id);
    expect(aIds).toHaveLength(100);
    expect(sweep.body.experiments.every((e: { priority: number | null }) => e.priority === 5)).toBe(true);
    const b = await api.request('POST', '/experiments', spec({ name: 'fair-share-b' }), asB());
    expect(b.status).toBe(201);
    expect(b.body.priority).toBeNull();
    const bId: string = b.body.id;

    // Each job carries the place stored on its row (the one the reconciler re-creates it with).
    const queue = api.app.queues.queue('training');
    const rows = await prisma().experiment.findMany({ where: { id: { in: [...aIds, bId] } }, select: { id: true, queuePriority: true } });
    for (const row of rows.filter((r) => r.id === bId || r.id === aIds[0] || r.id === aIds[99])) {
      expect((await queue.getJob(row.id))?.opts.priority).toBe(row.queuePriority);
    }

    try {
      worker = startWorker({ WORKER_ID: 'fair-share-worker', WORKER_CONCURRENCY: '1' });
      await waitUntil("B's run to finish and A's to go on", async () => {
        const bRow = await prisma().experiment.findUniqueOrThrow({ where: { id: bId } });
        const aStarted = await prisma().experiment.count({ where: { id: { in: aIds }, startedAt: { not: null } } });
        return bRow.status === 'succeeded' && aStarted >= 1 ? true : undefined;
      }, 240_000, 200);
      const attempts = await prisma().attempt.findMany({ where: { experimentId: { in: [...aIds, bId] } }, orderBy: { startedAt: 'asc' } });
      expect(attempts[0].experimentId).toBe(bId);
      expect(attempts[0].number).toBe(1);
      const bRow = await prisma().experiment.findUniqueOrThrow({ where: { id: bId } });
      const firstA = await prisma().experiment.findFirstOrThrow({ where: { id: { in: aIds }, startedAt: { not: null } }, orderBy: { startedAt: 'asc' } });
      expect(bRow.startedAt!.getTime()).toBeLessThan(firstA.startedAt!.getTime());
    } finally {
      // Keep the test short: A's remaining runs are cancelled, not trained.
      const left = await prisma().experiment.findMany({ where: { id: { in: aIds }, status: { in: ['queued', 'running'] } }, select: { id: true } });
      for (const { id } of left) await api.request('DELETE', `/experiments/${id}`);
    }
    expect(await prisma().experiment.count({ where: { id: { in: aIds }, status: { in: ['queued', 'running'] } } })).toBe(0);
  });
});
