import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { prisma } from '@capillary/db';
import { ExperimentRegistry } from '@capillary/registry';
import { checkpointKey, deletePrefix, ensureBucket } from '@capillary/storage';
import { generateSyntheticVolume, ZarrSliceWriter } from '@capillary/volumes';
import { startApi, type RunningApi } from '../../../../test/harness.ts';

// The winners' tricks as spec and prediction options: bad values are a 400 naming the field, and
// nothing is written.
describe('spec and prediction options of the winners\' tricks', () => {
  const db = prisma();
  let api: RunningApi;
  const dataset = `tricks-${randomUUID().slice(0, 8)}`;
  let experimentId: string;
  const base = { dataset, model: 'unet', epochs: 2, lr: 0.001, tileSize: 32, stepsPerEpoch: 2 };

  beforeAll(async () => {
    api = await startApi();
    const ds = await db.dataset.create({ data: { name: dataset } });
    // A dense volume row is enough for the API's checks (nothing trains here).
    await db.volume.create({
      data: { datasetId: ds.id, name: 'v', role: 'train', imageKey: 'none/image', labelKey: 'none/label', dtype: 'uint8', depth: 4, height: 8, width: 8, voxelSizeUm: [1, 1, 1], stats: {}, contentHash: 'x' },
    });
    const experiments = new ExperimentRegistry(db);
    experimentId = randomUUID();
    await experiments.create({ id: experimentId, spec: { ...base, slices: 1 }, datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0 });
    const { fence } = await experiments.openAttempt(experimentId, 'test');
    await experiments.commitEpoch(fence, { epoch: 1, trainLoss: 1, valLoss: 1, dice: 0, surfaceDice: 0, learningRate: 0.01, durationMs: 1, checkpoint: { s3Key: checkpointKey(experimentId, 1, 1), bytes: 1, sha256: 'x' } });
  });
  afterAll(async () => {
    await api.close();
    await db.experiment.deleteMany({ where: { dataset: { name: dataset } } });
    await db.dataset.deleteMany({ where: { name: dataset } });
  });

  const fieldsOf = (body: { issues?: Array<{ field: string }> }) => (body.issues ?? []).map((i) => i.field);

  it('refuses bad trick fields in a spec, naming each, and creates nothing', async () => {
    const before = await db.experiment.count();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ loss: 'surface' }, '/loss'],
      [{ loss: { surfaceDice: -1 } }, '/loss/surfaceDice'],
      [{ loss: { dice: 1, hausdorff: 1 } }, '/loss/hausdorff'],
      [{ loss: { dice: 0 } }, '/loss'],
      [{ slices: 3, outputSlices: 5 }, '/outputSlices'],
      [{ slices: 5, outputSlices: 2 }, '/outputSlices'],
      [{ rotation3dP: 1.5 }, '/rotation3dP'],
      [{ rotation3dMaxDegrees: 0 }, '/rotation3dMaxDegrees'],
      [{ scaleRange: [1.2, 0.8] }, '/scaleRange'],
      [{ scaleRange: [0.1, 1] }, '/scaleRange/0'],
    ];
    for (const [extra, field] of cases) {
      const res = await api.request('POST', '/experiments', { ...base, ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(400);
      expect(fieldsOf(res.body).some((f) => f.endsWith(field)), `${JSON.stringify(extra)} -> ${JSON.stringify(res.body)}`).toBe(true);
      expect(res.body.message).toContain(field.split('/')[1]);
    }
    expect(await db.experiment.count()).toBe(before);
  });

  it('accepts the winner\'s weighted loss, k out, rotation and scale range, and ResNeXt with attention', async () => {
    const spec = {
      ...base, model: 'attention-unet', encoder: 'resnext50', slices: 3, outputSlices: 3,
      loss: { focal: 1, dice: 1, boundary: 0.01, surfaceDice: 1 }, rotation3dP: 0.3, rotation3dMaxDegrees: 30, scaleRange: [1.1, 1.4],
    };
    const res = await api.request('POST', '/experiments', spec);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const row = await db.experiment.findUniqueOrThrow({ where: { id: res.body.id } });
    expect((row.spec as { loss: unknown }).loss).toEqual(spec.loss);
    expect((await api.request('POST', '/experiments', { ...base, loss: 'surface-dice' })).status).toBe(201);
  });

  it('refuses bad prediction options, naming each, and queues nothing', async () => {
    const before = await db.prediction.count();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ positiveFraction: 0 }, 'options/positiveFraction'],
      [{ positiveFraction: 1.5 }, 'options/positiveFraction'],
      [{ predictScale: 10 }, 'options/predictScale'],
      [{ pseudoLabelDataset: 'bad name!' }, 'options/pseudoLabelDataset'],
      // The dataset exists already (it is the one predicted), and it has no sparse volume anyway.
      [{ pseudoLabelDataset: dataset }, 'options/pseudoLabelDataset'],
      [{ pseudoLabelDataset: `${dataset}-next` }, 'options/pseudoLabelDataset'],
    ];
    for (const [options, field] of cases) {
      const res = await api.request('POST', `/experiments/${experimentId}/predictions`, { dataset, options });
      expect(res.status, JSON.stringify(options)).toBe(400);
      expect(fieldsOf(res.body).some((f) => f.endsWith(field)), `${JSON.stringify(options)} -> ${JSON.stringify(res.body)}`).toBe(true);
    }
    expect(await db.prediction.count()).toBe(before);
  });

  it('registers a labelled fraction with a volume and refuses one that contradicts labelDensity', async () => {
    await ensureBucket();
    const prefix = `uploads/${randomUUID()}`;
    const shape: [number, number, number] = [3, 8, 8];
    const v = generateSyntheticVolume({ shape, seed: 4 });
    for (const [key, dtype, data] of [[`${prefix}/image`, 'uint16', v.imageData], [`${prefix}/label`, 'uint8', v.labelData!]] as const) {
      const w = await ZarrSliceWriter.create(key, { shape, dtype });
      for (let z = 0; z < shape[0]; z++) await w.write(data.subarray(z * 64, (z + 1) * 64));
      await w.close();
    }
    try {
      const keys = { imageKey: `${prefix}/image`, labelKey: `${prefix}/label` };
      const bad = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'w', ...keys, labelledFraction: 0.5, labelDensity: 0.7 });
      expect(bad.status).toBe(400);
      expect(fieldsOf(bad.body)).toEqual(['body/labelledFraction']);
      const unlabelled = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'w', imageKey: keys.imageKey, labelledFraction: 0.5 });
      expect(fieldsOf(unlabelled.body)).toEqual(['body/labelledFraction']);
      expect(await db.volume.count({ where: { dataset: { name: dataset }, name: 'w' } })).toBe(0);
      const ok = await api.request('POST', `/datasets/${dataset}/volumes`, { name: 'w', ...keys, labelledFraction: 0.4 });
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect((await db.volume.findUniqueOrThrow({ where: { id: ok.body.id } })).labelDensity).toBe(0.4);
    } finally {
      await deletePrefix(`${prefix}/`);
    }
  });
});
