import { UnrecoverableError } from 'bullmq';
import type { Prisma } from '@capillary/db';
import type { PredictionOutput } from '@capillary/contracts';
import { VolumeRegistry } from './volume-registry.ts';

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
 * records the prediction's success (see {@link VolumeRegistry.registerPseudoLabelRound}).
 */
export async function registerPseudoLabelDataset(tx: Tx, o: { name: string; sourceDataset: string; predictionId: string; outputs: PredictionOutput[] }) {
  const labels = new Map(o.outputs.flatMap((out) => (out.pseudoLabels ? [[out.volumeId, out.pseudoLabels] as const] : [])));
  // The new round belongs where the prediction does, made by whoever asked for it.
  const prediction = await tx.prediction.findUniqueOrThrow({ where: { id: o.predictionId }, select: { projectId: true, createdById: true } });
  const ds = await new VolumeRegistry(tx).registerPseudoLabelRound({
    dataset: { name: o.name, description: `pseudo-labels of ${o.sourceDataset} by prediction ${o.predictionId}`, projectId: prediction.projectId, createdById: prediction.createdById },
    sourceDataset: o.sourceDataset,
    labels,
  });
  if (!ds) throw new PseudoLabelDatasetError(`pseudo-label dataset "${o.name}" already exists; choose another pseudoLabelDataset`);
  return ds;
}
