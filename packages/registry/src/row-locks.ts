// The new-row shape, row locks and guarded moves shared by the registry's writers: decisions about one experiment, or
// about one sweep's trials, are made one at a time under the row's lock.
import { inputModeOf, type ExperimentSpec } from '@capillary/contracts';
import type { Prisma } from '@capillary/db';
import { TransitionError } from './errors.ts';
import { TRANSITIONS, type RunStatus } from './transitions.ts';

export type Tx = Prisma.TransactionClient;

/** Typed columns copied out of the spec, so the leaderboard can sort without reading JSON. */
export function columnsOf(spec: ExperimentSpec) {
  return {
    name: spec.name ?? null,
    model: spec.model,
    encoder: spec.encoder,
    inputMode: inputModeOf(spec),
    epochs: spec.epochs,
    lr: spec.lr,
    augmentationP: spec.augmentationP,
    batchSize: spec.batchSize,
    seed: spec.seed,
  };
}

/** The typed columns of a new experiment (filled from the validated spec by `columnsOf`). */
export type NewExperiment = Omit<Prisma.ExperimentCreateManyInput, 'status' | 'attempts' | 'workerId' | 'startedAt' | 'finishedAt' | 'queuePriority'>;

/** A row put (back) in the queue, with what its job needs: the spec and its place. */
export interface RequeuedRow {
  id: string;
  spec: unknown;
  queuePriority: number | null;
  createdById: string | null;
  priority: number | null;
}

/** Locks the experiment row for the rest of the transaction and returns what the guards need. */
export async function lockExperiment(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ status: RunStatus; attempts: number; startedAt: Date | null }[]>`
    SELECT status, attempts, "startedAt" FROM "Experiment" WHERE id = ${id}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}

/** Locks a sweep row (decisions about its trials are made one at a time) and returns it. */
export async function lockSweep(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ id: string; strategy: string; asha: unknown; grid: unknown; maxConcurrent: number | null }[]>`
    SELECT id, strategy, asha, grid, "maxConcurrent" FROM "Sweep" WHERE id = ${id}::uuid FOR UPDATE`;
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
