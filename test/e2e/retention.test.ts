import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { listKeys, checkpointPrefix } from '@capillary/storage';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

const DATASET = 'e2e-retention';
let api: RunningApi;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 11, trainVolumes: 1, validationVolumes: 1, shape: [8, 32, 32] });
  api = await startApi();
});
afterAll(async () => {
  await worker?.stop();
  await api?.close();
});

describe('checkpoint retention', () => {
  it('a 5-epoch run with CHECKPOINT_KEEP_LAST=1 keeps exactly the best and the last checkpoint, in rows and in S3, and still predicts', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-retention', epochs: 5, stepsPerEpoch: 2 }));
    expect(created.status).toBe(201);
    const id = created.body.id;
    worker = startWorker({ WORKER_ID: 'retention-worker', CHECKPOINT_KEEP_LAST: '1' });
    const done = await waitUntil('the run to finish', async () => {
      const e = (await api.request('GET', `/experiments/${id}`)).body;
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 240_000, 200);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(done.epochMetrics).toHaveLength(5);

    const rows = await prisma().checkpoint.findMany({ where: { experimentId: id }, orderBy: { epoch: 'asc' } });
    const best = rows.find((r) => r.isBest);
    expect(best?.epoch).toBe(done.bestEpoch);
    expect(rows.map((r) => r.epoch)).toEqual([...new Set([done.bestEpoch as number, 5])].sort((a, b) => a - b));
    // Deleted after the rows: once the run is over nothing is left that no row names.
    expect((await listKeys(checkpointPrefix(id))).sort()).toEqual(rows.map((r) => r.s3Key).sort());

    const queued = await api.request('POST', `/experiments/${id}/predictions`, { dataset: DATASET });
    expect(queued.status).toBe(201);
    const prediction = await waitUntil('the prediction', async () => {
      const p = (await api.request('GET', `/predictions/${queued.body.id}`)).body;
      return ['succeeded', 'failed'].includes(p.status) ? p : undefined;
    }, 240_000, 200);
    expect(prediction.status, prediction.errorMessage ?? '').toBe('succeeded');
    expect(prediction.outputs).toHaveLength(2);
  });
});
