// The new-row shape, row locks and guarded moves shared by the registry's writers: decisions about one experiment, or
// about one sweep's trials, are made one at a time under the row's lock.
import type { Prisma } from '@capillary/db';
import { TransitionError } from './errors.ts';
import { TRANSITIONS, type RunStatus } from './transitions.ts';

export type Tx = Prisma.TransactionClient;

/** The typed columns of a new experiment (the API fills them from the validated spec). */
export type NewExperiment = Omit<Prisma.ExperimentCreateManyInput, 'status' | 'attempts' | 'workerId' | 'startedAt' | 'finishedAt' | 'queuePriority'>;

/** Locks the experiment row for the rest of the transaction and returns what the guards need. */
export async function lockExperiment(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ status: RunStatus; attempts: number; startedAt: Date | null }[]>`
    SELECT status, attempts, "startedAt" FROM "Experiment" WHERE id = ${id}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}

/** Locks a sweep row (decisions about its trials are made one at a time) and returns it. */
export async function lockSweep(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ id: string; strategy: string; asha: unknown }[]>`
    SELECT id, strategy, asha FROM "Sweep" WHERE id = ${id}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}

/**
 * A guarded move by one conditional update: only from `from` (and `where`), and only if the table
 * allows it (RERUN is not consulted here: re-runs use their own guard).
 */
export async function moveWhere(tx: Tx, id: string, from: RunStatus, to: RunStatus, data: Prisma.ExperimentUpdateManyMutationInput, where: Prisma.ExperimentWhereInput = {}): Promise<boolean> {
  if (!TRANSITIONS[from].includes(to)) throw new TransitionError('experiment', id, from, to);
  const n = await tx.experiment.updateMany({ where: { ...where, id, status: from }, data: { ...data, status: to } });
  return n.count === 1;
}
