import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'limits-kidney';
let api: RunningApi;
let worker: RunningWorker;

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 5, trainVolumes: 1, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi();
  worker = startWorker({ WORKER_ID: 'time-limited', JOB_TIMEOUT_MS: '4000', JOB_ATTEMPTS: '3' });
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

describe('a job that runs past its time limit', () => {
  it('fails for good with a message that says so, without retries, and its sandbox is stopped', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'too-long', epochs: 200, stepsPerEpoch: 5 }));
    expect(created.status).toBe(201);
    const id = created.body.id;
    const done = await waitUntil('the run to end', async () => {
      const e = (await api.request('GET', `/experiments/${id}`)).body;
      return ['succeeded', 'failed', 'cancelled'].includes(e.status) ? e : undefined;
    }, 120_000, 200);
    expect(done.status).toBe('failed');
    expect(done.errorMessage).toMatch(/exceeded its time limit of 4000 ms/);
    expect(done.attempts).toBe(1);
    expect(done.attemptLog).toHaveLength(1);
    expect(done.attemptLog[0].outcome).toMatch(/^error: .*time limit/);
    expect(done.epochMetrics.length).toBeLessThan(200);
  });
});
