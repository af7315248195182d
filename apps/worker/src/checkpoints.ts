import { createHash } from 'node:crypto';
import type { PrismaClient } from '@capillary/db';
import { getObject, putObject } from '@capillary/storage';
import type { EpochReportMessage } from './sandbox-protocol.ts';

export const checkpointKey = (experimentId: string, epoch: number) =>
  `checkpoints/${experimentId}/epoch-${String(epoch).padStart(4, '0')}.ckpt`;

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Stores one finished epoch: the checkpoint object first, then its row and the epoch's metrics in
 * one transaction. A crash between the two leaves an orphan object, never a row without one.
 */
export async function saveEpoch(db: PrismaClient, experimentId: string, report: EpochReportMessage, checkpoint: Uint8Array) {
  const key = checkpointKey(experimentId, report.epoch);
  const digest = sha256(checkpoint);
  await putObject(key, checkpoint, 'application/octet-stream');
  const metric = {
    trainLoss: report.trainLoss,
    valLoss: report.valLoss,
    dice: report.dice,
    surfaceDice: report.surfaceDice,
    learningRate: report.learningRate,
    durationMs: Math.round(report.durationMs),
  };
  await db.$transaction(async (tx) => {
    await tx.epochMetric.upsert({
      where: { experimentId_epoch: { experimentId, epoch: report.epoch } },
      create: { experimentId, epoch: report.epoch, ...metric },
      update: metric,
    });
    await tx.checkpoint.upsert({
      where: { experimentId_epoch: { experimentId, epoch: report.epoch } },
      create: { experimentId, epoch: report.epoch, s3Key: key, bytes: checkpoint.byteLength, sha256: digest },
      update: { s3Key: key, bytes: checkpoint.byteLength, sha256: digest },
    });
    // The leaderboard score is the best validation surface Dice so far (voxel Dice when the
    // surface score is undefined, e.g. both masks empty).
    const best = await tx.epochMetric.findFirst({
      where: { experimentId, surfaceDice: { not: null } },
      orderBy: [{ surfaceDice: 'desc' }, { epoch: 'asc' }],
    });
    if (best) {
      await tx.checkpoint.updateMany({ where: { experimentId }, data: { isBest: false } });
      await tx.checkpoint.updateMany({ where: { experimentId, epoch: best.epoch }, data: { isBest: true } });
      await tx.experiment.update({ where: { id: experimentId }, data: { score: best.surfaceDice, bestEpoch: best.epoch } });
    }
  });
  return { key, sha256: digest };
}

/** The newest checkpoint of an experiment, verified against its recorded hash. */
export async function latestCheckpoint(db: PrismaClient, experimentId: string): Promise<{ epoch: number; bytes: Uint8Array } | null> {
  const rows = await db.checkpoint.findMany({ where: { experimentId }, orderBy: { epoch: 'desc' } });
  for (const row of rows) {
    const bytes = await getObject(row.s3Key);
    if (bytes && sha256(bytes) === row.sha256) return { epoch: row.epoch, bytes };
  }
  return null;
}
