import type { CostLimits } from '@capillary/contracts';
import type { JobQueues } from '@capillary/queue';
import { deleteObjects } from '@capillary/storage';
import { withinEnqueueTimeout } from './enqueue-timeout.ts';
import type { ExperimentRegistry } from './experiments.ts';
import type { RequeuedRow } from './sweeps.ts';

/**
 * Queues a row's training job after its row went (back) to queued. The job id is the row id, so a
 * finished job of an earlier leg (paused, failed, cancelled) is removed first; an active or
 * waiting one is left alone (adding is then a no-op, and the reconciler re-creates a job that
 * completes under a queued row). BullMQ waits for a Redis that is down instead of failing, so
 * this gives up after a few seconds.
 */
export async function enqueueFresh(queues: JobQueues, experiments: ExperimentRegistry, row: RequeuedRow): Promise<void> {
  await withinEnqueueTimeout(
    (async () => {
      await removeFinishedJob(queues, row.id);
      await queues.enqueue('training', { experimentId: row.id, spec: row.spec as never }, row.id, { priority: await experiments.queuePriorityOf(row) });
    })(),
  );
}

/** Removes the job with this id when it has completed or failed (a finished leg); true if none is left. */
export async function removeFinishedJob(queues: JobQueues, id: string): Promise<boolean> {
  const job = await queues.queue('training').getJob(id);
  if (!job) return true;
  const state = await job.getState();
  if (state !== 'completed' && state !== 'failed') return false;
  await job.remove();
  return true;
}

/**
 * Moves sweeps on: applies ASHA's, TPE's and PBT's decisions through the registry, then queues each
 * promoted or new trial after the commit, and gives a capped sweep's free places to its held
 * trials. A promotion the queue refuses is undone (the trial waits
 * paused for the next pass); a new TPE trial stays queued, and the reconciler adds its job. Called
 * by the worker when a sweep's trial pauses or ends and by every reconciler pass, so a decision
 * lost with its process is made again. `limits`: the cost limits a decided trial must keep.
 */
export class SweepScheduler {
  constructor(
    private readonly experiments: ExperimentRegistry,
    private readonly queues: JobQueues,
    private readonly log?: { warn(o: object, m: string): void },
    private readonly limits?: CostLimits,
  ) {}

  async advance(sweepId: string): Promise<{ promoted: string[]; stopped: string[]; decided: string[]; released: string[] }> {
    const pbt = await this.experiments.sweeps.advancePbt(sweepId);
    const decided = await this.enqueueEach(pbt.requeued, 'could not queue a PBT member for its next interval; the reconciler will');
    if (pbt.droppedKeys.length) {
      await deleteObjects(pbt.droppedKeys).catch((e) => this.log?.warn({ err: (e as Error).message, keys: pbt.droppedKeys }, 'could not delete replaced checkpoint objects; they stay as orphans'));
    }
    decided.push(...(await this.enqueueEach(await this.experiments.sweeps.advanceTpe(sweepId, this.limits), 'could not queue a decided TPE trial; the reconciler will')));
    const { promoted, stopped, held } = await this.experiments.sweeps.advanceAsha(sweepId);
    const queued: string[] = [];
    for (const row of promoted) {
      try {
        await enqueueFresh(this.queues, this.experiments, row);
        queued.push(row.id);
      } catch (e) {
        this.log?.warn({ err: (e as Error).message, experimentId: row.id }, 'could not queue a promoted trial; it waits paused for the next pass');
        await this.experiments.sweeps.unpromote(row.id, row.fromRung);
      }
    }
    const released = await this.release(sweepId);
    return { promoted: [...queued, ...held], stopped, decided, released };
  }

  /**
   * Queues the held trials a capped sweep has places for now (`maxConcurrent`), in order. A job the
   * queue refuses leaves its row queued; the reconciler adds it (its place is already counted, so
   * the cap holds meanwhile).
   */
  async release(sweepId: string): Promise<string[]> {
    return this.enqueueEach(await this.experiments.sweeps.release(sweepId), 'could not queue a released trial; the reconciler will');
  }

  /**
   * Adds the jobs of rows already queued in Postgres; one the queue refuses is logged with `failure`
   * and left to the reconciler, which re-creates the job of any queued row without one. Returns the
   * ids whose jobs were added.
   */
  private async enqueueEach(rows: RequeuedRow[], failure: string): Promise<string[]> {
    const added: string[] = [];
    for (const row of rows) {
      await enqueueFresh(this.queues, this.experiments, row).then(
        () => added.push(row.id),
        (e) => this.log?.warn({ err: (e as Error).message, experimentId: row.id }, failure),
      );
    }
    return added;
  }
}
