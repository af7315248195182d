import type { Prisma } from '@capillary/db';
import { HttpError } from './errors.ts';

export interface QuotaLimits {
  /** Queued plus running experiments one API key may have. */
  MAX_ACTIVE_PER_KEY: number;
}

/**
 * Inside the transaction that inserts the experiments: takes a per-key advisory lock (held until
 * commit, so two concurrent requests of one key cannot both pass at the limit) and refuses with 429
 * when `adding` more would put the key over its limit of queued plus running experiments.
 */
export async function lockActiveQuota(tx: Prisma.TransactionClient, apiKeyId: string | null, adding: number, limits: QuotaLimits) {
  if (!apiKeyId) return;
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`active-quota:${apiKeyId}`}))`;
  const active = await tx.experiment.count({ where: { apiKeyId, status: { in: ['queued', 'running'] } } });
  if (active + adding > limits.MAX_ACTIVE_PER_KEY) {
    throw new HttpError(
      429,
      `this API key has ${active} queued or running experiments and asks for ${adding} more; at most ${limits.MAX_ACTIVE_PER_KEY} (MAX_ACTIVE_PER_KEY): wait for some to finish or cancel them`,
    );
  }
}
