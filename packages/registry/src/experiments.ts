import { activeTraceparent } from '@capillary/telemetry';
import type { Prisma, PrismaClient, Experiment } from '@capillary/db';
import { NotRunnableError, TransitionError } from './errors.ts';
import { AttemptRegistry, firstLines } from './attempts.ts';
import { fromStates, type RunStatus } from './transitions.ts';
import { queuePriorities } from './fair-share.ts';
import { lockExperiment, type NewExperiment, type Tx } from './row-locks.ts';
import { SweepRegistry } from './sweeps.ts';
import { recordRunEnded, type WebhookDispatch } from './webhooks.ts';

export type { NewExperiment } from './row-locks.ts';

/**
 * The only writer of experiment rows: creation and the transitions that need no attempt (cancel,
 * close, a lost worker's hand-back) here, the worker's fenced writes in {@link AttemptRegistry},
 * which this extends, and a sweep's joint decisions in {@link SweepRegistry} (`sweeps`). Every
 * status change is a guarded transition from the states `TRANSITIONS` allows.
 */
export class ExperimentRegistry extends AttemptRegistry {
  /** The writer of sweeps and of their trials' joint decisions. */
  readonly sweeps: SweepRegistry;

  /** `webhooks`: queues the webhook deliveries a transition wrote, after its commit (see AttemptRegistry). */
  constructor(db: PrismaClient, webhooks?: WebhookDispatch) {
    super(db, webhooks);
    this.sweeps = new SweepRegistry(db, this.webhooks);
  }

  // ---- creation (API) ----------------------------------------------------------------------

  /**
   * `admit` runs first in the same transaction: a quota check that must hold at commit. The row's
   * `queuePriority` (its place in the queue, see fair-share.ts) is fixed here, for the job to use.
   */
  async create(row: NewExperiment, admit?: (tx: Tx) => Promise<void>): Promise<Experiment> {
    const traceparent = activeTraceparent();
    return this.db.$transaction(async (tx) => {
      await admit?.(tx);
      const [queuePriority] = await queuePriorities(tx, row.createdById ?? null, row.priority, 1);
      return tx.experiment.create({ data: { ...row, queuePriority, traceparent } as Prisma.ExperimentUncheckedCreateInput });
    });
  }

  /**
   * The BullMQ priority to re-create a lost job with: the one fixed at creation, or, for a row
   * queued before priorities existed, a place computed now the same way.
   */
  async queuePriorityOf(row: { createdById: string | null; priority: number | null; queuePriority: number | null }): Promise<number> {
    if (row.queuePriority !== null) return row.queuePriority;
    const [p] = await this.db.$transaction((tx) => queuePriorities(tx, row.createdById, row.priority, 1));
    return p;
  }

  /** Undo of a creation whose job the queue refused: the rows never became visible work. */
  async discard(id: string): Promise<void> {
    await this.db.experiment.deleteMany({ where: { id, status: 'queued', attempts: 0 } });
  }

  /** Undo of an extension whose jobs the queue refused. */
  async discardMany(ids: string[]): Promise<void> {
    await this.db.experiment.deleteMany({ where: { id: { in: ids }, status: { in: ['queued', 'held'] }, attempts: 0 } });
  }

  // ---- transitions that need no attempt (API, reconciler) ----------------------------------

  /**
   * Records a cancel durably: queued or running -> cancelled. Workers see it at their next
   * status check or epoch commit even when the pub/sub message never reaches them.
   */
  async cancel(id: string): Promise<Experiment> {
    return this.move(id, 'cancelled', { finishedAt: new Date(), errorMessage: 'cancelled by request' });
  }

  /** A run whose job failed for good outside any attempt (reconciler, bad payload). */
  async failForGood(id: string, message: string): Promise<Experiment | null> {
    return this.move(id, 'failed', { finishedAt: new Date(), errorMessage: firstLines(message) }).catch(ignoreRefused);
  }

  /**
   * Hands a running experiment whose worker is gone back to the queue, closing its open
   * attempts as lost. Only when the row is still at `attempt` (nobody took it over meanwhile).
   */
  async requeueLost(id: string, attempt: number): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, id);
      if (!row || row.status !== 'running' || row.attempts !== attempt) return false;
      await tx.experiment.update({ where: { id }, data: { status: 'queued', workerId: null } });
      await tx.attempt.updateMany({ where: { experimentId: id, endedAt: null }, data: { endedAt: new Date(), outcome: 'lost: worker gone' } });
      return true;
    });
  }

  /**
   * Closes a lone experiment: its private score is answered from now on. Members of a sweep are
   * closed with their sweep (one at a time would let the rest be tuned to the revealed ones).
   */
  async close(id: string): Promise<Experiment> {
    return this.db.$transaction(async (tx) => {
      if (!(await lockExperiment(tx, id))) throw new NotRunnableError('experiment', id, 'missing');
      const row = await tx.experiment.findUniqueOrThrow({ where: { id } });
      if (row.sweepId) throw new TransitionError('experiment', id, 'in a sweep', 'closed');
      return row.closedAt ? row : tx.experiment.update({ where: { id }, data: { closedAt: new Date() } });
    });
  }

  // ---- internals ---------------------------------------------------------------------------

  /** A guarded status change with no attempt involved. */
  private async move(id: string, to: RunStatus, data: Prisma.ExperimentUpdateManyMutationInput): Promise<Experiment> {
    const { moved, deliveries } = await this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, id);
      if (!row) throw new NotRunnableError('experiment', id, 'missing');
      if (!fromStates(to).includes(row.status)) throw new TransitionError('experiment', id, row.status, to);
      if (isFinal(to)) await tx.attempt.updateMany({ where: { experimentId: id, endedAt: null }, data: { endedAt: new Date(), outcome: to } });
      const moved = await tx.experiment.update({ where: { id }, data: { ...data, status: to } });
      return { moved, deliveries: isFinal(to) ? await recordRunEnded(tx, id, to) : [] };
    });
    this.webhooks(deliveries);
    return moved;
  }
}

const isFinal = (s: RunStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

function ignoreRefused(e: unknown): null {
  if (e instanceof TransitionError || e instanceof NotRunnableError) return null;
  throw e;
}
