// Priorities and fair share, computed once when a run is queued and stored on its row, so the
// reconciler re-creates a lost job at exactly the place it had (docs/platform.md, "Priorities").
import { DEFAULT_PRIORITY, PRIORITY_LEVELS } from '@capillary/contracts';
import type { Prisma } from '@capillary/db';

type Tx = Prisma.TransactionClient;

// BullMQ priorities run from 1 (first) to 2^21; 0 would bypass the priority set altogether.
const BULLMQ_MAX_PRIORITY = 2 ** 21;
/** Each level owns a band of BullMQ priorities; every rank of a lower level runs before any of a higher one. */
export const LEVEL_BAND = 200_000;
/** Slots per rank: the tie-break between runs of equal rank (the smaller backlog first). */
const TIE_SLOTS = 16;
const MAX_RANK = LEVEL_BAND / TIE_SLOTS - 1;

/**
 * The BullMQ priority of a run: its level's band, then its fair-share rank (how many runs of its
 * API key wait ahead of it, counted from the queue's floor), then, among runs of one rank, the
 * key with the smaller backlog first. Ranks past the band's end share its last slot (FIFO there).
 */
export function bullPriority(level: number, rank: number, backlog: number): number {
  const band = (Math.min(Math.max(level, 1), PRIORITY_LEVELS) - 1) * LEVEL_BAND;
  const p = band + Math.min(Math.max(rank, 0), MAX_RANK) * TIE_SLOTS + Math.min(Math.max(backlog, 0), TIE_SLOTS - 1) + 1;
  return Math.min(p, BULLMQ_MAX_PRIORITY);
}

/** The rank a stored BullMQ priority stands for within its level. */
const rankOf = (level: number, priority: number) => Math.floor((priority - 1 - (level - 1) * LEVEL_BAND) / TIE_SLOTS);

/**
 * BullMQ priorities for `n` new runs of one user at one level, in the transaction that inserts
 * them (after the user's quota lock, so two requests of one user count each other). A user's k-th
 * queued run gets rank floor + k, where floor is the lowest rank still queued at that level: a
 * newcomer's first run lands level with the oldest waiting run instead of behind a stale tail,
 * and a user who has waited longest is never overtaken by an endless line of newcomers.
 */
export async function queuePriorities(tx: Tx, createdById: string | null, priority: number | null | undefined, n: number): Promise<number[]> {
  const level = priority ?? DEFAULT_PRIORITY;
  const low = (level - 1) * LEVEL_BAND + 1;
  const [{ floor }] = await tx.$queryRaw<{ floor: number | null }[]>`
    SELECT min("queuePriority") AS floor FROM "Experiment"
    WHERE status = 'queued' AND "queuePriority" BETWEEN ${low} AND ${low + LEVEL_BAND - 1}`;
  const floorRank = floor === null ? 0 : rankOf(level, floor);
  const queued = await tx.experiment.count({ where: { createdById, status: 'queued' } });
  return Array.from({ length: n }, (_, i) => bullPriority(level, floorRank + queued + i, queued + n));
}
