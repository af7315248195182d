import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { ExperimentRegistry } from './experiments.ts';
import { FencedError, NotRunnableError, TransitionError } from './errors.ts';
import { checkpointKey } from '@capillary/storage';

const db = prisma();
const experiments = new ExperimentRegistry(db);
let datasetId: string;

const newExperiment = async (sweepId: string | null = null) => {
  const id = randomUUID();
  await experiments.create({ id, spec: {}, datasetId, sweepId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 3, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0 });
  return id;
};
const epoch = (id: string, n: number, scores: { surfaceDice: number | null; dice: number | null }) => ({
  epoch: n, trainLoss: 0.5, valLoss: 0.4, ...scores, learningRate: 0.01, durationMs: 10,
  checkpoint: { s3Key: checkpointKey(id, n, 1), bytes: 1, sha256: 'x' },
});

beforeAll(async () => {
  datasetId = (await db.dataset.create({ data: { name: `registry-scores-${randomUUID().slice(0, 8)}` } })).id;
});
afterAll(async () => {
  await db.experiment.deleteMany({ where: { datasetId } });
  await db.dataset.delete({ where: { id: datasetId } });
});

describe('the best epoch, by the one rule', () => {
  it('surface Dice, falling back to Dice where it is undefined, earliest on ties; the best checkpoint follows', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(fence, epoch(id, 1, { surfaceDice: 0.3, dice: 0.2 }));
    // No surface: ranked by its Dice (0.5), which beats epoch 1's surface Dice.
    await experiments.commitEpoch(fence, epoch(id, 2, { surfaceDice: null, dice: 0.5 }));
    await experiments.commitEpoch(fence, epoch(id, 3, { surfaceDice: 0.5, dice: 0.9 }));
    const row = await db.experiment.findUniqueOrThrow({ where: { id }, include: { checkpoints: true } });
    expect(row).toMatchObject({ bestEpoch: 2, score: 0.5, validationScore: 0.5, scoreSource: 'validation', validatedOnTraining: false });
    expect(row.checkpoints.filter((c) => c.isBest).map((c) => c.epoch)).toEqual([2]);
  });

  it('a run validated on its training volumes says so', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(fence, epoch(id, 1, { surfaceDice: 0.3, dice: 0.2 }), { validatedOnTraining: true });
    expect(await db.experiment.findUniqueOrThrow({ where: { id } })).toMatchObject({ scoreSource: 'training', validatedOnTraining: true });
  });
});

describe('test scores', () => {
  it('are written under the fence for the best epoch only; the public score becomes the score', async () => {
    const id = await newExperiment();
    const a = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(a.fence, epoch(id, 1, { surfaceDice: 0.3, dice: 0.2 }));
    await experiments.endTraining(a.fence, 1);
    await expect(experiments.recordTestScores(a.fence, { epoch: 2, publicScore: 0.7, privateScore: 0.6 })).rejects.toThrow(/best epoch is 1/);
    const b = await experiments.openAttempt(id, 'w2');
    await expect(experiments.recordTestScores(a.fence, { epoch: 1, publicScore: 0.7, privateScore: 0.6 })).rejects.toThrow(FencedError);
    const scored = await experiments.recordTestScores(b.fence, { epoch: 1, publicScore: 0.7, privateScore: 0.6 });
    expect(scored).toMatchObject({ score: 0.7, scoreSource: 'public_test', validationScore: 0.3, privateScore: 0.6, testScoredEpoch: 1, trainedEpochs: 1 });
    // Rescoring after a hand-over writes the same again.
    expect(await experiments.recordTestScores(b.fence, { epoch: 1, publicScore: 0.7, privateScore: 0.6 })).toMatchObject({ score: 0.7, privateScore: 0.6 });
  });

  it('without public-test volumes the score stays the validation score; a later best epoch clears old test scores', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(fence, epoch(id, 1, { surfaceDice: 0.3, dice: 0.2 }), { validatedOnTraining: true });
    expect(await experiments.recordTestScores(fence, { epoch: 1, publicScore: null, privateScore: 0.25 })).toMatchObject({ score: 0.3, scoreSource: 'training', privateScore: 0.25 });
    await experiments.commitEpoch(fence, epoch(id, 2, { surfaceDice: 0.4, dice: 0.2 }), { validatedOnTraining: true });
    expect(await db.experiment.findUniqueOrThrow({ where: { id } })).toMatchObject({ bestEpoch: 2, score: 0.4, privateScore: null, testScoredEpoch: null });
  });
});

describe('closing', () => {
  it('a lone experiment closes once (the first time stays); a sweep member does not close alone', async () => {
    const id = await newExperiment();
    const first = await experiments.close(id);
    expect(first.closedAt).toBeInstanceOf(Date);
    expect((await experiments.close(id)).closedAt).toEqual(first.closedAt);
    await expect(experiments.close(randomUUID())).rejects.toThrow(NotRunnableError);
    const sweepId = randomUUID();
    await db.sweep.create({ data: { id: sweepId, name: 's', grid: {} } });
    const member = await newExperiment(sweepId);
    await expect(experiments.close(member)).rejects.toThrow(TransitionError);
    const closed = await experiments.sweeps.closeSweep(sweepId);
    expect(closed?.closedAt).toBeInstanceOf(Date);
    expect((await experiments.sweeps.closeSweep(sweepId))?.closedAt).toEqual(closed!.closedAt);
    expect(await experiments.sweeps.closeSweep(randomUUID())).toBeNull();
  });
});
