import { createHash } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import type { Prisma } from '@capillary/db';
import type { PredictionOutput } from '@capillary/contracts';

type Tx = Prisma.TransactionClient;

/** The pseudo-label dataset cannot be registered (its name is taken). Never retried. */
export class PseudoLabelDatasetError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = 'PseudoLabelDatasetError';
  }
}

/**
 * Registers the next round's dataset of a pseudo-label prediction, inside the transaction that
 * records the prediction's success: every volume of the predicted dataset again, with the same
 * image (and mask) arrays, the dense pseudo-label array where one was made (labelDensity 1, its
 * foreground fraction recounted) and the original labels otherwise.
 */
export async function registerPseudoLabelDataset(tx: Tx, o: { name: string; sourceDataset: string; predictionId: string; outputs: PredictionOutput[] }) {
  if (await tx.dataset.findUnique({ where: { name: o.name } })) {
    throw new PseudoLabelDatasetError(`pseudo-label dataset "${o.name}" already exists; choose another pseudoLabelDataset`);
  }
  const source = await tx.dataset.findUniqueOrThrow({ where: { name: o.sourceDataset }, include: { volumes: true } });
  const byId = new Map(o.outputs.map((out) => [out.volumeId, out]));
  // The new round belongs where the prediction does, made by whoever asked for it.
  const prediction = await tx.prediction.findUniqueOrThrow({ where: { id: o.predictionId }, select: { projectId: true, createdById: true } });
  const ds = await tx.dataset.create({ data: { name: o.name, description: `pseudo-labels of ${o.sourceDataset} by prediction ${o.predictionId}`, projectId: prediction.projectId, createdById: prediction.createdById } });
  for (const v of source.volumes) {
    const made = byId.get(v.id)?.pseudoLabels;
    const voxels = v.depth * v.height * v.width;
    const stats = made ? { ...(v.stats as Record<string, unknown>), foregroundFraction: made.foregroundVoxels / voxels } : v.stats;
    const labelKey = made ? made.labelKey : v.labelKey;
    await tx.volume.create({
      data: {
        datasetId: ds.id, name: v.name, role: v.role, imageKey: v.imageKey, labelKey, maskKey: v.maskKey,
        dtype: v.dtype, depth: v.depth, height: v.height, width: v.width, voxelSizeUm: v.voxelSizeUm,
        labelDensity: made ? 1 : v.labelDensity, stats: stats as Prisma.InputJsonValue,
        contentHash: createHash('sha256').update(JSON.stringify({ registered: [v.imageKey, labelKey, v.maskKey] })).digest('hex'),
      },
    });
  }
  return ds;
}
