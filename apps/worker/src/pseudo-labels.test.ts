import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Value } from 'typebox/value';
import { ExperimentSpec, type PredictionOutput } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { train } from '@capillary/engine';
import { ExperimentRegistry, FencedError, PredictionRegistry, PseudoLabelDatasetError, VolumeRegistry } from '@capillary/registry';
import { checkpointKey, ensureBucket, putObject } from '@capillary/storage';
import { importVolume, syntheticSource } from '@capillary/volumes/importers';
import { openVolume } from '@capillary/volumes';
import { sha256 } from './checkpoints.ts';
import { pseudoLabelTarget, runPrediction } from './prediction.ts';

// Sparse labels made dense: a finished experiment predicts a dataset whose volume carries half its
// vessels' labels; the prediction stores thresholded dense labels and registers them as a new
// dataset for the next round, through the registry, under the prediction's fence.
describe('pseudo-label predictions', () => {
  const db = prisma();
  const experiments = new ExperimentRegistry(db);
  const predictions = new PredictionRegistry(db);
  const tag = randomUUID().slice(0, 8);
  const dataset = `sparse-${tag}`;
  const shape: [number, number, number] = [8, 32, 32];
  let experimentId: string;

  beforeAll(async () => {
    await ensureBucket();
    await importVolume(syntheticSource({ shape, seed: 21, name: 'sparse' }), { catalog: new VolumeRegistry(prisma()), dataset, labelDensity: 0.5 });
    await importVolume(syntheticSource({ shape, seed: 22, name: 'dense' }), { catalog: new VolumeRegistry(prisma()), dataset, role: 'validation' });
    const ds = await db.dataset.findUniqueOrThrow({ where: { name: dataset }, include: { volumes: true } });
    const spec = Value.Default(ExperimentSpec, { dataset, model: 'unet', epochs: 1, lr: 0.01, tileSize: 16, batchSize: 2, stepsPerEpoch: 2, baseFilters: 2, depth: 2 }) as ExperimentSpec;
    experimentId = randomUUID();
    await experiments.create({ id: experimentId, spec, datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.01, augmentationP: 0.5, batchSize: 2, seed: 0 });
    const { fence } = await experiments.openAttempt(experimentId, 'test');
    const sparse = ds.volumes.find((v) => v.name === 'sparse')!;
    await train({
      spec, train: [openVolume(sparse)], validation: [],
      onEpoch: async (r, bytes) => {
        const s3Key = checkpointKey(experimentId, r.epoch, fence.attempt);
        await putObject(s3Key, bytes);
        await experiments.commitEpoch(fence, { ...r, surfaceDice: 0.1, checkpoint: { s3Key, bytes: bytes.byteLength, sha256: sha256(bytes) } });
      },
    });
    await experiments.succeed(fence);
  }, 120_000);

  afterAll(async () => {
    await db.prediction.deleteMany({ where: { experimentId } });
    await db.experiment.deleteMany({ where: { id: experimentId } });
    await db.dataset.deleteMany({ where: { name: { startsWith: `sparse-${tag}` } } });
  });

  it('thresholds the sparse volume to its coverage, keeps its labels, and registers the dense dataset', async () => {
    const target = `${dataset}-pseudo`;
    const id = randomUUID();
    await predictions.create({ id, experimentId, datasetName: dataset, options: { pseudoLabelDataset: target } });
    const { fence } = await predictions.open(id, 'test');
    const { outputs, csvKey } = await runPrediction(db, id, fence.attempt);
    expect(await db.dataset.findUnique({ where: { name: target } })).toBeNull(); // nothing before success
    await predictions.succeed(fence, outputs, csvKey);

    const source = await db.volume.findMany({ where: { dataset: { name: dataset } }, orderBy: { name: 'asc' } });
    const made = await db.volume.findMany({ where: { dataset: { name: target } }, orderBy: { name: 'asc' } });
    expect(made.map((v) => v.name)).toEqual(['dense', 'sparse']);
    const [denseSrc, sparseSrc] = source;
    const [denseNew, sparseNew] = made;
    // The dense volume comes along as it is; the sparse one gets the new array and full coverage.
    expect([denseNew.imageKey, denseNew.labelKey, denseNew.labelDensity]).toEqual([denseSrc.imageKey, denseSrc.labelKey, 1]);
    const out = outputs.find((o) => o.volume === 'sparse')!;
    expect(outputs.find((o) => o.volume === 'dense')!.pseudoLabels).toBeUndefined();
    expect(sparseNew.imageKey).toBe(sparseSrc.imageKey);
    expect(sparseNew.labelKey).toBe(out.pseudoLabels!.labelKey);
    expect(sparseNew.labelDensity).toBe(1);

    // The threshold made the predicted share what the labels imply at full coverage (2x the labelled share).
    const voxels = shape[0] * shape[1] * shape[2];
    const want = pseudoLabelTarget(sparseSrc);
    expect(want).toBeCloseTo(2 * (sparseSrc.stats as { foregroundFraction: number }).foregroundFraction, 9);
    expect(out.pseudoLabels!.targetFraction).toBe(want);
    expect(Math.abs(out.foregroundVoxels / voxels - want)).toBeLessThan(0.01);

    // Stored labels: the prediction united with the sparse labels, every known vessel kept.
    const before = openVolume(sparseSrc);
    const after = openVolume(sparseNew);
    let kept = 0;
    let known = 0;
    let positives = 0;
    for (let z = 0; z < shape[0]; z++) {
      const a = await before.readLabel('z', z, 1);
      const b = await after.readLabel('z', z, 1);
      for (let i = 0; i < a.length; i++) {
        known += a[i];
        kept += a[i] & b[i];
        positives += b[i];
      }
    }
    expect(known).toBeGreaterThan(0);
    expect(kept).toBe(known);
    expect(positives).toBe(out.pseudoLabels!.foregroundVoxels);
    expect(positives).toBeGreaterThanOrEqual(out.foregroundVoxels);
    expect((sparseNew.stats as { foregroundFraction: number }).foregroundFraction).toBeCloseTo(positives / voxels, 12);

    // The next round can train on it: the new volume reads as a labelled volume like any other.
    expect(after.hasLabels).toBe(true);
  }, 120_000);

  it('a fenced-off attempt registers nothing; a taken name fails the success, writing nothing', async () => {
    const target = `${dataset}-fenced`;
    const id = randomUUID();
    await predictions.create({ id, experimentId, datasetName: dataset, options: { pseudoLabelDataset: target } });
    const first = await predictions.open(id, 'a');
    await predictions.open(id, 'b'); // takes it over
    const outputs: PredictionOutput[] = [];
    await expect(predictions.succeed(first.fence, outputs, 'x.csv')).rejects.toThrow(FencedError);
    expect(await db.dataset.findUnique({ where: { name: target } })).toBeNull();

    const taken = randomUUID();
    await predictions.create({ id: taken, experimentId, datasetName: dataset, options: { pseudoLabelDataset: dataset } });
    const { fence } = await predictions.open(taken, 'c');
    await expect(predictions.succeed(fence, outputs, 'x.csv')).rejects.toThrow(PseudoLabelDatasetError);
    expect((await db.prediction.findUniqueOrThrow({ where: { id: taken } })).status).toBe('running');
  });
});
