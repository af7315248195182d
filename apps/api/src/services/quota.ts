import type { Prisma } from '@capillary/db';
import { HttpError } from './errors.ts';

export interface QuotaLimits {
  /** Queued plus running experiments one user may have, over all their keys. */
  MAX_ACTIVE_PER_KEY: number;
}

/**
 * Inside the transaction that inserts the experiments: takes a per-user advisory lock (held until
 * commit, so two concurrent requests of one user cannot both pass at the limit) and refuses with 429
 * when `adding` more would put the user over its limit of queued plus running experiments. Counted
 * per user, over every key and project, so more keys buy no more quota.
 */
export async function lockActiveQuota(tx: Prisma.TransactionClient, userId: string | null, adding: number, limits: QuotaLimits) {
  if (!userId) return;
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`active-quota:${userId}`}))`;
  const active = await tx.experiment.count({ where: { createdById: userId, status: { in: ['queued', 'held', 'running'] } } });
  if (active + adding > limits.MAX_ACTIVE_PER_KEY) {
    throw new HttpError(
      429,
      `you have ${active} queued or running experiments over all your keys and ask for ${adding} more; at most ${limits.MAX_ACTIVE_PER_KEY} (MAX_ACTIVE_PER_KEY): wait for some to finish or cancel them`,
    );
  }
}
