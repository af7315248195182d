import { createHash } from 'node:crypto';
import type { PrismaClient } from '@capillary/db';
import { getObject, putObject, checkpointKey } from '@capillary/storage';

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Uploads one epoch's checkpoint under a key of its attempt's own, before any row names it: a
 * crash between upload and commit leaves an orphan object, never a row without one, and a stale
 * attempt can never overwrite the object a committed row points to.
 */
export async function uploadCheckpoint(experimentId: string, epoch: number, attempt: number, bytes: Uint8Array) {
  const s3Key = checkpointKey(experimentId, epoch, attempt);
  await putObject(s3Key, bytes, 'application/octet-stream');
  return { s3Key, bytes: bytes.byteLength, sha256: sha256(bytes) };
}

/**
 * The newest checkpoint of an experiment whose object matches its recorded hash. `copied`: it is
 * another PBT member's, taken over under a perturbed spec, so training resumes it retuned.
 */
export async function latestCheckpoint(db: PrismaClient, experimentId: string): Promise<{ epoch: number; bytes: Uint8Array; copied: boolean } | null> {
  const rows = await db.checkpoint.findMany({ where: { experimentId }, orderBy: { epoch: 'desc' } });
  for (const row of rows) {
    const bytes = await getObject(row.s3Key);
    if (bytes && sha256(bytes) === row.sha256) return { epoch: row.epoch, bytes, copied: row.copiedFromExperimentId !== null };
  }
  return null;
}
