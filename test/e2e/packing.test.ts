// Build 4, packing by memory: a worker runs trials side by side while their estimated step memory
// fits its WORKER_MEMORY_MB, each trains exactly as it would alone, and a trial no worker can hold
// says so on GET /queue instead of waiting silently.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { ExperimentSpec, stepMemoryMB } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-packing';
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'stopped'];
let api: RunningApi;
const workers: RunningWorker[] = [];

/** The spec as the API stores it (defaults filled in), for the estimate the worker makes. */
const estimateOf = (spec: Record<string, unknown>) => stepMemoryMB(Value.Default(ExperimentSpec, structuredClone(spec)) as ExperimentSpec);
// A low threshold, so the validation scores compared below are not all zero after two short epochs.
const small = (seed: number) => tinySpec(DATASET, { epochs: 2, seed, threshold: 0.1, name: `pack-${seed}` });
const SMALL_MB = estimateOf(small(1));
/** Room for three small trials, not four. */
const CAPACITY_MB = SMALL_MB * 3.5;

type QueueWorker = { id: string; running: string[]; memoryMB?: number; memoryInUseMB?: number };
type Queue = { workers: QueueWorker[]; largestCapacityMB: number | null; unfittable: { id: string; estimatedMB: number; message: string }[]; unfittableTotal: number };
const queue = async () => (await api.request('GET', '/queue')).body as Queue;

function worker(env: Record<string, string>): RunningWorker {
  const w = startWorker({ HEARTBEAT_INTERVAL_MS: '100', ...env });
  workers.push(w);
  return w;
}
async function stopWorkers() {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
}
/** Waits until the worker beats with its capacity, so the queue view and the test see it. */
const online = (id: string) => waitUntil(`${id} to beat`, async () => (await queue()).workers.find((w) => w.id === id && w.memoryMB !== undefined));

async function submit(spec: Record<string, unknown>): Promise<string> {
  const res = await api.request('POST', '/experiments', spec);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}
const rows = (ids: string[]) => prisma().experiment.findMany({ where: { id: { in: ids } } });
const epochs = async (id: string) =>
  (await prisma().epochMetric.findMany({ where: { experimentId: id }, orderBy: { epoch: 'asc' } })).map((m) => ({ epoch: m.epoch, trainLoss: m.trainLoss, valLoss: m.valLoss, dice: m.dice, surfaceDice: m.surfaceDice, learningRate: m.learningRate }));

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 26, trainVolumes: 1, validationVolumes: 1, shape: [8, 32, 32] });
  api = await startApi();
});
afterEach(stopWorkers);
afterAll(async () => {
  await stopWorkers();
  await api?.close();
});

describe('packing trials by memory', () => {
  it('with room for three small trials and four slots, a worker runs exactly three at once, and each trains bit-identically to the same spec alone', async () => {
    worker({ WORKER_ID: 'pack-three', WORKER_CONCURRENCY: '4', WORKER_MEMORY_MB: String(CAPACITY_MB) });
    expect((await online('pack-three')).memoryMB).toBeCloseTo(CAPACITY_MB, 9);
    const packed: string[] = [];
    for (const seed of [1, 2, 3, 4]) packed.push(await submit(small(seed)));

    // Sampled from the worker's beats: what it runs, and the memory it says those trials take.
    let most = 0;
    let mostMB = 0;
    await waitUntil('the four packed trials to end', async () => {
      const w = (await queue()).workers.find((x) => x.id === 'pack-three');
      if (w) {
        most = Math.max(most, w.running.length);
        mostMB = Math.max(mostMB, w.memoryInUseMB ?? 0);
      }
      return (await rows(packed)).every((r) => TERMINAL.includes(r.status)) ? true : undefined;
    }, 600_000, 100);
    expect((await rows(packed)).map((r) => r.status)).toEqual(Array(4).fill('succeeded'));
    expect(most).toBe(3);
    expect(mostMB).toBeLessThanOrEqual(CAPACITY_MB);
    expect(mostMB).toBeCloseTo(3 * SMALL_MB, 9);

    // The attempts say the same in Postgres: the first three overlap, the fourth waited for memory.
    const attempts = await prisma().attempt.findMany({ where: { experimentId: { in: packed } }, orderBy: { startedAt: 'asc' } });
    expect(attempts.map((a) => [a.number, a.workerId])).toEqual(Array(4).fill([1, 'pack-three']));
    const [first, second, third, fourth] = attempts;
    const firstEnd = Math.min(...[first, second, third].map((a) => a.endedAt!.getTime()));
    expect(third.startedAt.getTime()).toBeLessThan(firstEnd);
    expect(fourth.startedAt.getTime()).toBeGreaterThanOrEqual(firstEnd);
    const together = [first, second, third].map((a) => a.experimentId);

    // The same specs, one at a time on a worker of one slot.
    await stopWorkers();
    worker({ WORKER_ID: 'pack-alone', WORKER_CONCURRENCY: '1' });
    const bySeed = new Map((await rows(together)).map((r) => [r.id, (r.spec as { seed: number }).seed]));
    const alone = new Map<string, string>();
    for (const id of together) alone.set(id, await submit({ ...small(bySeed.get(id)!), name: `alone-${bySeed.get(id)}` }));
    await waitUntil('the trials alone to end', async () => ((await rows([...alone.values()])).every((r) => TERMINAL.includes(r.status)) ? true : undefined), 600_000, 200);
    expect((await rows([...alone.values()])).map((r) => r.status)).toEqual(Array(3).fill('succeeded'));
    const soloAttempts = await prisma().attempt.findMany({ where: { experimentId: { in: [...alone.values()] } }, orderBy: { startedAt: 'asc' } });
    for (let i = 1; i < soloAttempts.length; i++) expect(soloAttempts[i].startedAt.getTime()).toBeGreaterThanOrEqual(soloAttempts[i - 1].endedAt!.getTime());

    const compared: Awaited<ReturnType<typeof epochs>> = [];
    for (const id of together) {
      const mine = await epochs(id);
      expect(mine).toHaveLength(2);
      expect(mine).toEqual(await epochs(alone.get(id)!));
      compared.push(...mine);
    }
    // Equal numbers, not equal zeros: the scores compared are real ones.
    expect(compared.some((m) => m.dice! > 0)).toBe(true);
    expect(compared.some((m) => m.surfaceDice! > 0)).toBe(true);
  }, 900_000);

  it('a trial larger than every live worker shows as unfittable on GET /queue and stays queued while a fitting one runs; a larger worker that joins takes it', async () => {
    const w = worker({ WORKER_ID: 'pack-small', WORKER_CONCURRENCY: '2', WORKER_MEMORY_MB: String(CAPACITY_MB) });
    await online('pack-small');
    const bigSpec = tinySpec(DATASET, { epochs: 1, batchSize: 8, name: 'pack-big' });
    const BIG_MB = estimateOf(bigSpec);
    expect(BIG_MB).toBeGreaterThan(CAPACITY_MB);
    const big = await submit(bigSpec);
    const fits = await submit(tinySpec(DATASET, { epochs: 1, seed: 9, name: 'pack-fits' }));

    let listed: Queue['unfittable'][number] | undefined;
    await waitUntil('the fitting trial to succeed with the big one listed as unfittable', async () => {
      const q = await queue();
      listed ??= q.unfittable.find((t) => t.id === big);
      const [row] = await rows([fits]);
      return row.status === 'succeeded' && listed ? true : undefined;
    }, 300_000, 200);
    expect(listed!.estimatedMB).toBeCloseTo(BIG_MB, 9);
    expect(listed!.message).toContain(`${BIG_MB.toFixed(2)} MB`);
    expect(listed!.message).toContain(`${CAPACITY_MB.toFixed(2)} MB`);
    const q = await queue();
    expect(q.largestCapacityMB).toBeCloseTo(CAPACITY_MB, 9);
    // Other files' leftovers may queue in the same project: only these two are judged here.
    expect(q.unfittableTotal).toBeGreaterThanOrEqual(1);
    expect(q.unfittable.map((t) => t.id)).toContain(big);
    expect(q.unfittable.map((t) => t.id)).not.toContain(fits);
    // Never taken: no attempt, still queued; the worker said why it handed it back.
    const [bigRow] = await rows([big]);
    expect(bigRow.status).toBe('queued');
    expect(await prisma().attempt.count({ where: { experimentId: big } })).toBe(0);
    expect(w.output.some((l) => l.includes(big) && l.includes('handed back to other workers'))).toBe(true);

    worker({ WORKER_ID: 'pack-large', WORKER_CONCURRENCY: '1', WORKER_MEMORY_MB: String(BIG_MB * 2) });
    await online('pack-large');
    expect((await queue()).unfittable.map((t) => t.id)).not.toContain(big);
    await waitUntil('the big trial to end on the larger worker', async () => (TERMINAL.includes((await rows([big]))[0].status) ? true : undefined), 300_000, 200);
    expect((await rows([big]))[0].status).toBe('succeeded');
    const attempts = await prisma().attempt.findMany({ where: { experimentId: big } });
    expect(attempts.map((a) => a.workerId)).toEqual(['pack-large']);
  }, 600_000);
});
