import { createHash } from 'node:crypto';
import type { Prisma } from '@capillary/db';
import { generateSyntheticVolume } from '@capillary/volumes/synthetic';
import { ZarrSliceWriter } from '@capillary/volumes/zarr-array';
import { deletePrefix, ensureBucket } from '@capillary/storage';

export interface SyntheticDatasetOptions {
  seed: number;
  trainVolumes: number;
  validationVolumes: number;
  /** [z, y, x] of each volume */
  shape: [number, number, number];
}

/**
 * Generates a small synthetic kidney dataset (deterministic by seed), stores each volume in S3 as
 * Zarr arrays and registers it, unless a dataset of that name exists already.
 */
export async function seedSyntheticDataset(name: string, o: SyntheticDatasetOptions, log: (m: string) => void = () => {}) {
  const { prisma } = await import('@capillary/db');
  const db = prisma();
  const existing = await db.dataset.findUnique({ where: { name }, include: { volumes: true } });
  if (existing?.volumes.length) return existing;
  await ensureBucket();
  const roles = [...Array(o.trainVolumes).fill('train'), ...Array(o.validationVolumes).fill('validation')] as ('train' | 'validation')[];
  const rows: Prisma.VolumeCreateWithoutDatasetInput[] = [];
  const prefix = `datasets/${name}`;
  try {
    for (const [i, role] of roles.entries()) {
      const volumeName = `synthetic_${String(i).padStart(2, '0')}`;
      const volume = generateSyntheticVolume({ shape: o.shape, seed: o.seed * 1000 + i });
      const [Z, Y, X] = o.shape;
      const image = await ZarrSliceWriter.create(`${prefix}/${volumeName}/image`, { shape: o.shape, dtype: 'uint16' });
      const label = await ZarrSliceWriter.create(`${prefix}/${volumeName}/label`, { shape: o.shape, dtype: 'uint8' });
      for (let z = 0; z < Z; z++) {
        await image.write(volume.imageData.subarray(z * Y * X, (z + 1) * Y * X));
        await label.write(volume.labelData!.subarray(z * Y * X, (z + 1) * Y * X));
      }
      await image.close();
      await label.close();
      const contentHash = createHash('sha256').update(volume.imageData).update(volume.labelData!).digest('hex');
      rows.push({
        name: volumeName, role, imageKey: `${prefix}/${volumeName}/image`, labelKey: `${prefix}/${volumeName}/label`,
        dtype: 'uint16', depth: Z, height: Y, width: X, voxelSizeUm: [50, 50, 50],
        stats: volume.stats as unknown as Prisma.InputJsonValue, contentHash,
      });
      log(`synthetic volume ${volumeName} (${role}, ${Z}x${Y}x${X}) stored`);
    }
    // Registered in one transaction, after every array is complete: never half a dataset.
    return await db.dataset.create({
      data: { name, description: `synthetic kidneys, seed ${o.seed}`, volumes: { create: rows } },
      include: { volumes: true },
    });
  } catch (e) {
    await deletePrefix(`${prefix}/`).catch(() => {});
    throw e;
  }
}

export const DEMO_DATASET = 'synthetic-kidney';

/** What the demo needs: its dataset, an API key, and an example sweep like the seed team's table. */
export async function seedDemoData(log: (m: string) => void) {
  const { prisma } = await import('@capillary/db');
  const { ApiKeyService } = await import('@capillary/api/services/api-keys');
  await seedSyntheticDataset(DEMO_DATASET, { seed: 1, trainVolumes: 2, validationVolumes: 1, shape: [32, 96, 96] }, log);
  const { key } = await new ApiKeyService(prisma()).create('demo');
  const exampleSweep = {
    name: `demo sweep ${new Date().toISOString().slice(0, 16)}`,
    base: { dataset: DEMO_DATASET, epochs: 3, batchSize: 4, tileSize: 48, stepsPerEpoch: 12, baseFilters: 6, depth: 3, augmentationP: 0.3 },
    grid: { model: ['unet', 'unet25d'], lr: [0.003, 0.001] },
  };
  return { apiKey: key, exampleSweep };
}
