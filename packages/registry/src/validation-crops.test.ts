import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import type { EpochMetrics } from '@capillary/contracts';
import { ExperimentRegistry } from './experiments.ts';
import { checkpointKey } from '@capillary/storage';

const db = prisma();
const experiments = new ExperimentRegistry(db);
let datasetId: string;

const newExperiment = async () => {
  const id = randomUUID();
  await experiments.create({ id, spec: {}, datasetId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 3, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0 });
  return id;
};
const epoch = (id: string, n: number, surfaceDice: number | null, v: Partial<EpochMetrics>) => ({
  epoch: n, trainLoss: 0.5, valLoss: surfaceDice === null ? null : 0.4, surfaceDice, dice: surfaceDice, learningRate: 0.01, durationMs: 100, ...v,
  checkpoint: { s3Key: checkpointKey(id, n, 1), bytes: 1, sha256: 'x' },
});

beforeAll(async () => {
  datasetId = (await db.dataset.create({ data: { name: `registry-crops-${randomUUID().slice(0, 8)}` } })).id;
});
afterAll(async () => {
  await db.experiment.deleteMany({ where: { datasetId } });
  await db.dataset.delete({ where: { id: datasetId } });
});

describe('validation on crops', () => {
  it('each epoch row says what it validated on; the run says its best epoch came from crops', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(fence, epoch(id, 1, null, { validationScope: null, validationCrops: 0, validationMs: 0 }));
    await experiments.commitEpoch(fence, epoch(id, 2, 0.4, { validationScope: 'crops', validationCrops: 12, validationMs: 180.4 }));
    const rows = await db.epochMetric.findMany({ where: { experimentId: id }, orderBy: { epoch: 'asc' } });
    expect(rows.map((r) => [r.validationScope, r.validationCrops, r.validationMs])).toEqual([[null, 0, 0], ['crops', 12, 180]]);
    expect(await db.experiment.findUniqueOrThrow({ where: { id } })).toMatchObject({ bestEpoch: 2, score: 0.4, validationCrops: true, wholeValidationScore: null });
  });

  it('the whole-volume score of the best checkpoint becomes the score, until a newer best epoch', async () => {
    const id = await newExperiment();
    const { fence } = await experiments.openAttempt(id, 'w');
    await experiments.commitEpoch(fence, epoch(id, 1, 0.4, { validationScope: 'crops', validationCrops: 12 }));
    await experiments.recordTestScores(fence, { epoch: 1, publicScore: null, privateScore: null, wholeValidationScore: 0.31 });
    expect(await db.experiment.findUniqueOrThrow({ where: { id } })).toMatchObject({ score: 0.31, validationScore: 0.4, wholeValidationScore: 0.31, scoreSource: 'validation', testScoredEpoch: 1 });
    // A public-test score still comes first.
    await experiments.recordTestScores(fence, { epoch: 1, publicScore: 0.5, privateScore: null, wholeValidationScore: 0.31 });
    expect(await db.experiment.findUniqueOrThrow({ where: { id } })).toMatchObject({ score: 0.5, scoreSource: 'public_test', wholeValidationScore: 0.31 });
    await experiments.commitEpoch(fence, epoch(id, 2, 0.6, { validationScope: 'whole', validationCrops: 0 }));
    expect(await db.experiment.findUniqueOrThrow({ where: { id } })).toMatchObject({ bestEpoch: 2, score: 0.6, validationCrops: false, wholeValidationScore: null });
  });
});
