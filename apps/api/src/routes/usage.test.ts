import { randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { JobQueues, redisConnection } from '@capillary/queue';
import { ExperimentRegistry, type ExperimentFence } from '@capillary/registry';
import { REPO_ROOT, startApi, tinySpec, waitUntil, type RunningApi } from '../../../../test/harness.ts';
import { AdminService } from '../services/admin.ts';

// Names are fresh for each run: the test stack's database outlives it, and the sums are per group.
const tag = randomBytes(3).toString('hex');
const DATASET = `usage-${tag}`;
const db = prisma();
const registry = new ExperimentRegistry(db);

const cli = (...args: string[]) =>
  promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/capillary.mjs'), ...args], { cwd: REPO_ROOT }).then((r) => JSON.parse(r.stdout.trim().split('\n').pop()!));

/** Waits until the clock has moved on, so every attempt lasts a measurable time. */
async function letTimePass(ms = 15) {
  const until = Date.now() + ms;
  await waitUntil('the clock to move on', async () => (Date.now() >= until ? true : undefined), 5_000, 2);
}

/** One attempt as a worker runs it: pickup, its backend, some time, then how it ends. */
async function attempt(id: string, backend: string, end: (fence: ExperimentFence) => Promise<unknown>) {
  const { fence } = await registry.openAttempt(id, `usage-worker-${tag}`);
  await registry.recordBackend(fence, backend);
  await letTimePass();
  await end(fence);
}

/** The attempts' own times from the database, summed as /usage should. */
async function ownSums(experimentIds: string[]) {
  const rows = await db.attempt.findMany({ where: { experimentId: { in: experimentIds } } });
  const secs = (a: (typeof rows)[number]) => (a.endedAt!.getTime() - a.startedAt.getTime()) / 1000;
  const byBackend = new Map<string, number>();
  for (const a of rows) byBackend.set(a.backend!, (byBackend.get(a.backend!) ?? 0) + secs(a));
  expect(rows.every((a) => a.endedAt !== null)).toBe(true);
  return {
    workerSeconds: rows.reduce((s, a) => s + secs(a), 0),
    attempts: rows.length,
    handOvers: rows.filter((a) => a.outcome?.startsWith('handed over')).length,
    runs: new Set(rows.map((a) => a.experimentId)).size,
    byBackend,
  };
}

describe('GET /usage: worker-seconds of every attempt, hand-overs and re-runs included', () => {
  let api: RunningApi;
  let queues: JobQueues;
  let otherKey = '';
  const lone: string[] = [];
  const cells: string[] = [];
  let sweepId = '';
  let datasetId = '';
  /** The other project's run, left training. */
  let running = '';
  /** Takes the jobs out of Redis, as workers picking them up would: this test is the worker. */
  const consume = async (ids: string[]) => {
    for (const id of ids) await (await queues.queue('training').getJob(id))?.remove();
  };
  const usage = async (query: string, key = api.key) => {
    const res = await api.request('GET', `/usage?${query}`, undefined, { auth: false, headers: { authorization: `Bearer ${key}` } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  const group = (body: any, id: string | null) => body.groups.find((g: any) => g.id === id);

  beforeAll(async () => {
    datasetId = (await db.dataset.create({ data: { name: DATASET } })).id;
    api = await startApi();
    queues = new JobQueues(redisConnection(process.env.REDIS_URL!));

    // A lone run: its worker hands it back (shutdown), and the next attempt finishes it elsewhere.
    const e = await api.request('POST', '/experiments', tinySpec(DATASET));
    expect(e.status).toBe(201);
    lone.push(e.body.id);
    await consume(lone);
    await attempt(e.body.id, 'cpu', (f) => registry.handOver(f, 'worker shutting down'));
    await attempt(e.body.id, 'tensorflow', (f) => registry.succeed(f));

    // A sweep: one cell fails for good, is re-run through the API, and succeeds on its next attempt.
    const s = await api.request('POST', '/sweeps', { name: `usage-${tag}`, base: tinySpec(DATASET), grid: { seed: [1, 2] } });
    expect(s.status).toBe(201);
    sweepId = s.body.id;
    cells.push(...s.body.experiments.map((x: { id: string }) => x.id));
    await consume(cells);
    await attempt(cells[0], 'cpu', (f) => registry.fail(f, 'out of memory', true));
    await attempt(cells[1], 'tensorflow', (f) => registry.succeed(f));
    const rerun = await api.request('POST', `/sweeps/${sweepId}/rerun`);
    expect(rerun.body.requeued).toEqual([cells[0]]);
    await consume(cells);
    await attempt(cells[0], 'cpu', (f) => registry.succeed(f));

    // Another project, with a run of its own still training.
    const admin = new AdminService(db);
    const other = await admin.createUser(`usage-other-${tag}`, false);
    const project = await admin.createProject(`usage-other-${tag}`, other.id);
    otherKey = (await api.app.apiKeys.create(`usage-other-${tag}`, { userId: other.id })).key;
    const id = (running = randomUUID());
    await registry.create({ id, spec: {}, datasetId, projectId: project.id, createdById: other.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0 });
    const { fence } = await registry.openAttempt(id, `usage-worker-${tag}`);
    await registry.recordBackend(fence, 'cpu');
  }, 60_000);

  afterAll(async () => {
    // Nothing is left running for a later file's reconciler to hand to a worker.
    if (running) await registry.cancel(running);
    await queues?.close();
    await api?.close();
  });

  it('sums by user, by dataset and by sweep equal the sums of the attempts\' own times, split by backend', async () => {
    const mine = await ownSums([...lone, ...cells]);
    expect(mine).toMatchObject({ attempts: 5, handOvers: 1, runs: 3 });
    const expectGroup = (g: any, want: Awaited<ReturnType<typeof ownSums>>) => {
      expect(g).toMatchObject({ attempts: want.attempts, handOvers: want.handOvers, runs: want.runs, running: 0 });
      expect(g.workerSeconds).toBeCloseTo(want.workerSeconds, 6);
      expect(g.workerSeconds).toBeGreaterThan(0);
      expect(g.backends.map((b: any) => b.backend).sort()).toEqual([...want.byBackend.keys()].sort());
      for (const b of g.backends) expect(b.workerSeconds).toBeCloseTo(want.byBackend.get(b.backend)!, 6);
    };

    const byUser = await usage('by=user');
    expect(byUser.by).toBe('user');
    expectGroup(group(byUser, api.userId), mine);
    expect(group(byUser, api.userId).name).toMatch(/^test/);

    const byDataset = await usage('by=dataset');
    expectGroup(group(byDataset, datasetId), mine);
    expect(group(byDataset, datasetId).name).toBe(DATASET);

    const bySweep = await usage('by=sweep');
    const sweep = await ownSums(cells);
    expect(sweep).toMatchObject({ attempts: 3, handOvers: 0, runs: 2 });
    expectGroup(group(bySweep, sweepId), sweep);
    expect(group(bySweep, sweepId).name).toBe(`usage-${tag}`);
    // The project's total holds every group's sums.
    const sumOf = (k: string) => bySweep.groups.reduce((s: number, g: any) => s + g[k], 0);
    expect(bySweep.total.attempts).toBe(sumOf('attempts'));
    expect(bySweep.total.workerSeconds).toBeCloseTo(sumOf('workerSeconds'), 6);
  });

  it('filters attempts by their start time', async () => {
    const first = await db.attempt.findFirstOrThrow({ where: { experimentId: { in: lone } }, orderBy: { startedAt: 'asc' } });
    const later = new Date(first.startedAt.getTime() + 1).toISOString();
    const from = await usage(`by=dataset&from=${encodeURIComponent(later)}`);
    expect(group(from, datasetId).attempts).toBe(4);
    expect(from.from).toBe(later);
    const before = await usage(`by=dataset&to=${encodeURIComponent(later)}`);
    expect(group(before, datasetId)).toMatchObject({ attempts: 1, handOvers: 1, runs: 1 });
    const bad = await api.request('GET', `/usage?by=user&from=${encodeURIComponent(later)}&to=${encodeURIComponent(first.startedAt.toISOString())}`);
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual([{ field: 'querystring/from', message: 'must not be after to' }]);
    expect((await api.request('GET', '/usage?by=volume')).status).toBe(400);
  });

  it("shows each project only its own usage, a running attempt counted up to now", async () => {
    const mine = await usage('by=dataset');
    expect(group(mine, datasetId).running).toBe(0);
    const theirs = await usage('by=dataset', otherKey);
    expect(theirs.groups).toHaveLength(1);
    expect(group(theirs, datasetId)).toMatchObject({ attempts: 1, running: 1, runs: 1, handOvers: 0 });
    const started = await db.attempt.findFirstOrThrow({ where: { experimentId: running } });
    expect(group(theirs, datasetId).workerSeconds).toBeGreaterThan(0);
    expect(group(theirs, datasetId).workerSeconds).toBeLessThanOrEqual((Date.now() - started.startedAt.getTime()) / 1000 + 1);
    const peek = await api.request('GET', '/usage?by=user', undefined, { auth: false, headers: { authorization: `Bearer ${otherKey}`, 'x-capillary-project': 'default' } });
    expect(peek.status).toBe(404);
  });

  it('capillary usage prints the same sums', async () => {
    const out = await cli('usage', '--by', 'sweep', '--json', '--api', api.url, '--key', api.key);
    expect(group(out, sweepId)).toEqual(group(await usage('by=sweep'), sweepId));
  });
});
