// The end-of-run test scoring survives outages like the epochs do: Postgres gone while the test
// volumes are scored is waited out in place (no hand-over, no attempt spent); S3 gone under the
// scoring sandbox hands the run back, and the next attempt scores the same checkpoint again.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { stackProfile, stackUp, startService, stopService, type StackService } from '@capillary/devstack';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { openEvents } from '../sse-client.ts';

const DATASET = 'e2e-kidney-tests-outage';
const profile = stackProfile('test');
let api: RunningApi;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 31, trainVolumes: 2, validationVolumes: 1, publicTestVolumes: 1, privateTestVolumes: 1, shape: [16, 48, 48] });
  api = await startApi();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await stackUp(profile);
  await api?.close();
});

/** One run whose scoring is under way when `service` goes down for `downMs`; returns its final row. */
async function scoreThrough(service: StackService, downMs: number, name: string) {
  workers.push(startWorker({ WORKER_ID: `outage-${service}` }));
  // All three planes with flips: a scoring phase long enough to be interrupted.
  const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name, epochs: 1, threshold: 0.2, predict: { axes: ['xy', 'xz', 'yz'], tta: true } }));
  expect(created.status).toBe(201);
  const id: string = created.body.id;
  const stream = await openEvents(`${api.url}/experiments/${id}/events`, { authorization: `Bearer ${api.key}` });
  await waitUntil('the scoring to start', async () => (stream.events.some((e) => e.event === 'scoring') ? true : undefined), 300_000, 20);
  await stopService(profile, service);
  await new Promise((r) => setTimeout(r, downMs));
  await startService(profile, service);
  const done = await waitUntil('the run to finish', async () => {
    const e = await prisma().experiment.findUnique({ where: { id }, include: { attemptLog: { orderBy: { number: 'asc' } } } });
    return e && ['succeeded', 'failed'].includes(e.status) ? e : undefined;
  }, 300_000, 250);
  stream.abort();
  return done;
}

describe('the test scoring through outages', () => {
  it('Postgres down while the test volumes are scored: waited out in place, scored once', async () => {
    const done = await scoreThrough('postgres', 6_000, 'e2e-scores-postgres-down');
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(done).toMatchObject({ scoreSource: 'public_test', testScoredEpoch: done.bestEpoch, attempts: 1 });
    expect(done.privateScore).toEqual(expect.any(Number));
    expect(done.attemptLog.map((a) => a.outcome)).toEqual(['succeeded']);
  }, 600_000);

  it('S3 down under the scoring sandbox: handed back without spending an attempt, the next attempt scores the same checkpoint', async () => {
    const done = await scoreThrough('s3', 4_000, 'e2e-scores-s3-down');
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(done).toMatchObject({ scoreSource: 'public_test', testScoredEpoch: done.bestEpoch });
    expect(done.privateScore).toEqual(expect.any(Number));
    // Either the sandbox had read what it needed before S3 went (one attempt), or it was handed
    // back for the outage and the next attempt went straight to scoring: never an error spent.
    const outcomes = done.attemptLog.map((a) => a.outcome ?? '');
    expect(outcomes[outcomes.length - 1]).toBe('succeeded');
    for (const o of outcomes.slice(0, -1)) expect(o).toMatch(/^handed over: outage|^superseded/);
    for (const a of done.attemptLog.slice(1)) expect(a.resumedFromEpoch).toBe(1);
    expect(done.errorMessage).toBeNull();
  }, 600_000);
});
