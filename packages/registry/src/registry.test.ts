import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { ExperimentRegistry } from './experiments.ts';
import { PredictionRegistry } from './predictions.ts';
import { FencedError, NotRunnableError, TransitionError } from './errors.ts';
import { fromStates, RERUN, TRANSITIONS } from './transitions.ts';
import { checkpointKey } from '@capillary/storage';

const db = prisma();
const experiments = new ExperimentRegistry(db);
let datasetId: string;

const newExperiment = async () => {
  const id = randomUUID();
  await experiments.create({ id, spec: {}, datasetId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 3, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0 });
  return id;
};
const epoch = (n: number, attempt: number, id: string) => ({
  epoch: n, trainLoss: 0.5, valLoss: 0.4, dice: 0.3, surfaceDice: 0.2 + n / 10, learningRate: 0.01, durationMs: 10,
  checkpoint: { s3Key: checkpointKey(id, n, attempt), bytes: 1, sha256: 'x' },
});

beforeAll(async () => {
  datasetId = (await db.dataset.create({ data: { name: `registry-${randomUUID().slice(0, 8)}` } })).id;
});
afterAll(async () => {
  await db.experiment.deleteMany({ where: { datasetId } });
  await db.dataset.delete({ where: { id: datasetId } });
});

describe('the transition table', () => {
  it('lets nothing leave a terminal state and allows hand-over back to queued', () => {
    for (const s of ['succeeded', 'failed', 'cancelled', 'stopped'] as const) expect(TRANSITIONS[s]).toEqual([]);
    // Hand-over, retry and lost worker from running; an ASHA promotion from paused.
    expect(fromStates('queued')).toEqual(['running', 'paused', 'held']);
    expect(fromStates('cancelled')).toEqual(['queued', 'running', 'paused', 'held']);
    expect(fromStates('paused')).toEqual(['queued', 'running']);
    expect(fromStates('stopped')).toEqual(['paused']);
    // A held trial (a capped sweep's) is only ever released to the queue or cancelled.
    expect(fromStates('held')).toEqual(['paused']);
    expect(TRANSITIONS.held).toEqual(['queued', 'cancelled']);
  });

  it('the sweep re-run alone revives failed and cancelled runs; stopped and succeeded stay ended', () => {
    expect(RERUN.failed).toEqual(['queued', 'held']);
    expect(RERUN.cancelled).toEqual(['queued', 'held']);
    for (const s of ['succeeded', 'stopped', 'queued', 'running', 'paused', 'held'] as const) expect(RERUN[s]).toEqual([]);
  });
});

describe('ExperimentRegistry fences every worker write by its attempt', () => {
  it('a newer attempt fences the older one off: its commits and its finish are refused', async () => {
    const id = await newExperiment();
    const a = await experiments.openAttempt(id, 'worker-a');
    expect(a.fence.attempt).toBe(1);
    await experiments.commitEpoch(a.fence, epoch(1, 1, id));
    const b = await experiments.openAttempt(id, 'worker-b');
    expect(b.fence.attempt).toBe(2);
    expect(b.lastEpoch).toBe(1);
    await expect(experiments.commitEpoch(a.fence, epoch(2, 1, id))).rejects.toThrow(FencedError);
    await expect(experiments.succeed(a.fence)).rejects.toMatchObject({ reason: 'superseded' });
    expect(await experiments.check(a.fence)).toBe('superseded');
    await experiments.commitEpoch(b.fence, epoch(2, 2, id));
    const row = await db.experiment.findUniqueOrThrow({ where: { id }, include: { epochMetrics: { orderBy: { epoch: 'asc' } }, attemptLog: { orderBy: { number: 'asc' } } } });
    expect(row.epochMetrics.map((m) => [m.epoch, m.attemptNumber, m.commits])).toEqual([[1, 1, 1], [2, 2, 1]]);
    expect(row.attemptLog[0].outcome).toBe('superseded');
    expect(row.attemptLog[0].endedAt).not.toBeNull();
    expect(row.score).toBeCloseTo(0.4);
    expect(row.bestEpoch).toBe(2);
    await experiments.succeed(b.fence);
    expect((await db.experiment.findUniqueOrThrow({ where: { id } })).status).toBe('succeeded');
  });

  it('a cancel refuses the next commit and the next pickup; a finished run cannot be cancelled', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    await experiments.cancel(id);
    await expect(experiments.commitEpoch(fence, epoch(1, 1, id))).rejects.toMatchObject({ reason: 'cancelled' });
    await expect(experiments.openAttempt(id, 'w2')).rejects.toThrow(NotRunnableError);
    await expect(experiments.cancel(id)).rejects.toThrow(TransitionError);
    expect(await db.epochMetric.count({ where: { experimentId: id } })).toBe(0);
  });

  it('a hand-over returns the run to queued without failing it, and the next attempt resumes', async () => {
    const id = await newExperiment();
    const a = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(a.fence, epoch(1, 1, id));
    await experiments.handOver(a.fence, 'shutdown');
    const row = await db.experiment.findUniqueOrThrow({ where: { id }, include: { attemptLog: true } });
    expect(row.status).toBe('queued');
    expect(row.attemptLog[0].outcome).toBe('handed over: shutdown');
    const b = await experiments.openAttempt(id, 'w2');
    expect(b.lastEpoch).toBe(1);
    // A commit of an epoch already stored (redone work) is counted.
    await experiments.commitEpoch(b.fence, epoch(1, 2, id));
    expect((await db.epochMetric.findFirstOrThrow({ where: { experimentId: id, epoch: 1 } })).commits).toBe(2);
  });

  it('requeueLost only moves a run still at the attempt it saw; discard only removes untouched rows', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    expect(await experiments.requeueLost(id, fence.attempt + 1)).toBe(false);
    expect(await experiments.requeueLost(id, fence.attempt)).toBe(true);
    expect((await db.attempt.findFirstOrThrow({ where: { experimentId: id } })).outcome).toBe('lost: worker gone');
    await experiments.discard(id);
    expect(await db.experiment.count({ where: { id } })).toBe(1);
    const fresh = await newExperiment();
    await experiments.discard(fresh);
    expect(await db.experiment.count({ where: { id: fresh } })).toBe(0);
  });
});

describe('checkpoint retention', () => {
  it('keeps the best and the newest K rows, returns the keys it dropped, and is fenced', async () => {
    const id = await newExperiment();
    const a = await experiments.openAttempt(id, 'w');
    // Surface Dice peaks at epoch 2, then falls: the best is neither the last nor among the last 2.
    const dice = [0.3, 0.9, 0.5, 0.4, 0.2];
    const dropped: string[] = [];
    for (let n = 1; n <= 5; n++) {
      await experiments.commitEpoch(a.fence, { ...epoch(n, 1, id), surfaceDice: dice[n - 1] });
      dropped.push(...(await experiments.pruneCheckpoints(a.fence, 2)));
    }
    const rows = await db.checkpoint.findMany({ where: { experimentId: id }, orderBy: { epoch: 'asc' } });
    expect(rows.map((r) => [r.epoch, r.isBest])).toEqual([[2, true], [4, false], [5, false]]);
    expect(dropped.sort()).toEqual([checkpointKey(id, 1, 1), checkpointKey(id, 3, 1)]);
    // The newest row is still what a resume reads.
    const b = await experiments.openAttempt(id, 'w2');
    expect(b.lastEpoch).toBe(5);
    await expect(experiments.pruneCheckpoints(a.fence, 1)).rejects.toThrow(FencedError);
    expect(await experiments.pruneCheckpoints(b.fence, 1)).toEqual([checkpointKey(id, 4, 1)]);
  });

  it('a rewind drops the rows after the resume point and returns their object keys', async () => {
    const id = await newExperiment();
    const a = await experiments.openAttempt(id, 'w');
    for (let n = 1; n <= 3; n++) await experiments.commitEpoch(a.fence, epoch(n, 1, id));
    const b = await experiments.openAttempt(id, 'w2');
    expect((await experiments.rewindTo(b.fence, 1)).sort()).toEqual([checkpointKey(id, 2, 1), checkpointKey(id, 3, 1)]);
    expect((await db.checkpoint.findMany({ where: { experimentId: id } })).map((c) => c.epoch)).toEqual([1]);
  });

  it('an epoch redone by a newer attempt reports the object its row no longer names', async () => {
    const id = await newExperiment();
    const a = await experiments.openAttempt(id, 'w');
    expect(await experiments.commitEpoch(a.fence, epoch(1, 1, id))).toEqual({ replacedKeys: [] });
    const b = await experiments.openAttempt(id, 'w2');
    expect(await experiments.commitEpoch(b.fence, epoch(1, 2, id))).toEqual({ replacedKeys: [checkpointKey(id, 1, 1)] });
  });
});

describe('PredictionRegistry', () => {
  it('fences a prediction handed to another worker', async () => {
    const experimentId = await newExperiment();
    const predictions = new PredictionRegistry(db);
    const id = randomUUID();
    await predictions.create({ id, experimentId, datasetName: 'd', options: {} });
    const a = await predictions.open(id, 'a');
    await predictions.handOver(a.fence);
    const b = await predictions.open(id, 'b');
    await expect(predictions.succeed(a.fence, [], 'k')).rejects.toThrow(FencedError);
    const done = await predictions.succeed(b.fence, [], 'k');
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(2);
  });
});
