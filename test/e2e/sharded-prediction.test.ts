import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import { train } from '@capillary/engine';
import { ExperimentRegistry } from '@capillary/registry';
import { checkpointKey } from '@capillary/registry/keys';
import { ensureBucket, getObject, putObject } from '@capillary/storage';
import { importVolume, syntheticSource } from '@capillary/volumes/importers';
import { openVolume } from '@capillary/volumes/zarr-volume';
import { sha256 } from '../../apps/worker/src/checkpoints.ts';
import { startApi, startWorker, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

// A prediction too big for one shard is a flow of shard jobs over the workers; its mask, CSV and
// scores are those of the same prediction on one worker, byte for byte.
describe('sharded prediction through the queue', () => {
  const db = prisma();
  const tag = randomUUID().slice(0, 8);
  const dataset = `shard-${tag}`;
  const shape: [number, number, number] = [10, 40, 36];
  let experimentId: string;
  let api: RunningApi;

  beforeAll(async () => {
    await ensureBucket();
    await importVolume(syntheticSource({ shape, seed: 31, name: 'a' }), { dataset, role: 'public_test' });
    await importVolume(syntheticSource({ shape: [6, 24, 20], seed: 32, name: 'b' }), { dataset, role: 'public_test' });
    const ds = await db.dataset.findUniqueOrThrow({ where: { name: dataset }, include: { volumes: true } });
    const spec = Value.Default(ExperimentSpec, { dataset, model: 'unet', epochs: 1, lr: 0.01, tileSize: 16, batchSize: 2, stepsPerEpoch: 2, baseFilters: 4, depth: 2, slices: 3, threshold: 0.3 }) as ExperimentSpec;
    const experiments = new ExperimentRegistry(db);
    experimentId = randomUUID();
    await experiments.create({ id: experimentId, spec, datasetId: ds.id, model: 'unet', encoder: 'plain', inputMode: '2.5d', epochs: 1, lr: 0.01, augmentationP: 0.5, batchSize: 2, seed: 0 });
    const { fence } = await experiments.openAttempt(experimentId, 'test');
    await train({
      spec, train: [openVolume(ds.volumes[0])], validation: [],
      onEpoch: async (r, bytes) => {
        const s3Key = checkpointKey(experimentId, r.epoch, fence.attempt);
        await putObject(s3Key, bytes);
        await experiments.commitEpoch(fence, { ...r, surfaceDice: 0.1, checkpoint: { s3Key, bytes: bytes.byteLength, sha256: sha256(bytes) } });
      },
    });
    await experiments.succeed(fence);
    api = await startApi();
  }, 180_000);

  afterAll(async () => {
    await api?.close();
    await db.prediction.deleteMany({ where: { experimentId } });
    await db.experiment.deleteMany({ where: { id: experimentId } });
    await db.dataset.deleteMany({ where: { name: dataset } });
  });

  /** Runs one prediction on workers started with `env` and returns everything it produced. */
  async function predict(env: Record<string, string>, workers: number, options: Record<string, unknown>) {
    const started: RunningWorker[] = Array.from({ length: workers }, (_, i) => startWorker({ WORKER_ID: `shard-${tag}-${i}-${randomUUID().slice(0, 4)}`, ...env }));
    try {
      const res = await api.request('POST', `/experiments/${experimentId}/predictions`, { dataset, options });
      expect(res.status).toBe(201);
      const row = await waitUntil('the prediction to end', async () => {
        const p = await db.prediction.findUniqueOrThrow({ where: { id: res.body.id } });
        return p.status === 'succeeded' || p.status === 'failed' ? p : undefined;
      }, 300_000);
      expect(row.errorMessage).toBeNull();
      expect(row.status).toBe('succeeded');
      const outputs = row.outputs as Array<{ volume: string; maskKey: string; shape: [number, number, number]; surfaceDice: number; dice: number; foregroundVoxels: number }>;
      const masks = await Promise.all(outputs.map(async (o) => {
        const reader = openVolume({ id: o.maskKey, imageKey: o.maskKey, dtype: 'uint8', depth: o.shape[0], height: o.shape[1], width: o.shape[2], stats: {} }, { cache: null });
        return Buffer.from(await reader.readImageBox({ z0: 0, z1: o.shape[0], y0: 0, y1: o.shape[1], x0: 0, x1: o.shape[2] }));
      }));
      const csv = Buffer.from((await getObject(row.csvKey!))!);
      const logs = started.flatMap((w) => w.output);
      return { row, outputs, masks, csv, logs, shards: Object.keys(row.shards as object).length };
    } finally {
      await Promise.all(started.map((w) => w.stop()));
    }
  }

  // Shard sizes of three to four planes of volume a: several shards an axis, a few seconds each.
  const cases = [
    { options: { axes: ['xy', 'xz', 'yz'], tta: true }, shardVoxels: 40 * 36 * 4 * 4 },
    { options: { axes: ['xy', 'yz'], positiveFraction: 0.05, minComponentVoxels: 3, predictScale: 0.75 }, shardVoxels: 4000 },
  ];
  for (const { options, shardVoxels } of cases) {
    it(`matches one worker byte for byte: ${JSON.stringify(options)}`, async () => {
      const one = await predict({ PREDICT_SHARD_VOXELS: String(2 ** 40) }, 1, options);
      const many = await predict({ PREDICT_SHARD_VOXELS: String(shardVoxels), PREDICT_MAX_SHARDS_IN_FLIGHT: '3' }, 2, options);
      expect(one.shards).toBe(0);
      // Volume a is cut into shards on every axis; volume b is small enough to predict whole.
      expect(many.shards).toBeGreaterThanOrEqual(2 * options.axes.length);
      expect(many.logs.some((l) => l.includes('prediction waits for its shards'))).toBe(true);
      expect(many.masks.length).toBe(2);
      many.masks.forEach((m, i) => expect(m.equals(one.masks[i])).toBe(true));
      expect(many.csv.equals(one.csv)).toBe(true);
      expect(many.outputs.map((o) => [o.volume, o.surfaceDice, o.dice, o.foregroundVoxels])).toEqual(one.outputs.map((o) => [o.volume, o.surfaceDice, o.dice, o.foregroundVoxels]));
      expect(one.outputs[0].foregroundVoxels).toBeGreaterThan(0);
      for (const l of [...one.logs, ...many.logs]) expect(l).not.toContain('handed the run back');
    }, 600_000);
  }
});
