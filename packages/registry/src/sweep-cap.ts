// A sweep's concurrency cap (`maxConcurrent`): at most that many of its trials queued or running at
// once. Every way a trial becomes runnable (creation, extension, an ASHA promotion, a TPE decision,
// a re-run) writes it `held` in a capped sweep, and `releaseHeld` alone moves held trials to
// queued, under the sweep's row lock, so no two writers can release past the cap together.
import { moveWhere, type RequeuedRow, type Tx } from './row-locks.ts';
import type { RunStatus } from './transitions.ts';

/** The states that take a place under the cap: a job exists for them, or a worker runs them. */
export const OCCUPYING: readonly RunStatus[] = ['queued', 'running'];

/** The status a trial that may run now is written with: `held` in a capped sweep, else `queued`. */
export const runnableStatus = (cap: number | null | undefined): 'held' | 'queued' => (cap ? 'held' : 'queued');

/**
 * Moves the sweep's first held trials to queued while fewer than `cap` of its trials occupy a
 * place; the caller holds the sweep's row lock. Order: ASHA promotions (higher rungs) first, then
 * trial order, so a grid runs its cells in the order it listed them. Returns the released rows,
 * whose jobs the caller adds after the commit; one the queue refuses stays queued, and the
 * reconciler adds its job (the place it takes is already counted).
 */
export async function releaseHeld(tx: Tx, sweepId: string, cap: number | null | undefined): Promise<RequeuedRow[]> {
  if (!cap) return [];
  const occupied = await tx.experiment.count({ where: { sweepId, status: { in: [...OCCUPYING] } } });
  const free = cap - occupied;
  if (free <= 0) return [];
  const next = await tx.experiment.findMany({
    where: { sweepId, status: 'held' },
    orderBy: [{ rung: { sort: 'desc', nulls: 'last' } }, { trialIndex: 'asc' }, { createdAt: 'asc' }, { id: 'asc' }],
    take: free,
    select: { id: true, spec: true, queuePriority: true, createdById: true, priority: true },
  });
  const released: RequeuedRow[] = [];
  for (const row of next) {
    if (await moveWhere(tx, row.id, 'held', 'queued', { workerId: null })) released.push(row);
  }
  return released;
}
