import { VolumeRegistry } from '@capillary/registry';
import { importVolume, syntheticSource } from '@capillary/volumes/importers';

export interface SyntheticDatasetOptions {
  seed: number;
  trainVolumes: number;
  validationVolumes: number;
  /** Labelled volumes scored at the end of every run: the public score. */
  publicTestVolumes?: number;
  /** Labelled volumes scored at the end of every run, shown once the sweep is closed. */
  privateTestVolumes?: number;
  /** [z, y, x] of each volume */
  shape: [number, number, number];
}

/**
 * Generates a small synthetic kidney dataset (deterministic by seed) through the importer, so it
 * is stored and registered like real data. Importing the same content again is a no-op.
 */
export async function seedSyntheticDataset(name: string, o: SyntheticDatasetOptions, log: (m: string) => void = () => {}) {
  const { prisma } = await import('@capillary/db');
  // A dataset that already has volumes is kept as it is (e.g. from an earlier demo).
  if (await prisma().volume.count({ where: { dataset: { name } } })) return;
  const roles = [
    ...Array(o.trainVolumes).fill('train'),
    ...Array(o.validationVolumes).fill('validation'),
    ...Array(o.publicTestVolumes ?? 0).fill('public_test'),
    ...Array(o.privateTestVolumes ?? 0).fill('private_test'),
  ] as ('train' | 'validation' | 'public_test' | 'private_test')[];
  const catalog = new VolumeRegistry(prisma());
  for (const [i, role] of roles.entries()) {
    const volumeName = `synthetic_${String(i).padStart(2, '0')}`;
    const { created } = await importVolume(syntheticSource({ shape: o.shape, seed: o.seed * 1000 + i, name: volumeName }), { catalog, dataset: name, role });
    if (created) log(`synthetic volume ${volumeName} (${role}, ${o.shape.join('x')}) stored`);
  }
}

export const DEMO_DATASET = 'synthetic-kidney';

/** What the demo needs: its dataset, an API key, and an example sweep like the seed team's table. */
export async function seedDemoData(log: (m: string) => void) {
  const { prisma } = await import('@capillary/db');
  const { ApiKeyService } = await import('@capillary/api');
  await seedSyntheticDataset(DEMO_DATASET, { seed: 1, trainVolumes: 2, validationVolumes: 1, shape: [32, 96, 96] }, log);
  const { key } = await new ApiKeyService(prisma()).create('demo');
  const exampleSweep = {
    name: `demo sweep ${new Date().toISOString().slice(0, 16)}`,
    base: { dataset: DEMO_DATASET, epochs: 4, batchSize: 4, tileSize: 64, stepsPerEpoch: 20, baseFilters: 8, depth: 3, augmentationP: 0.3 },
    grid: { model: ['unet', 'unet25d'], lr: [0.003, 0.001] },
  };
  return { apiKey: key, exampleSweep };
}
