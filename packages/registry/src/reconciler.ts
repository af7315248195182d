import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PrismaClient } from '@capillary/db';
import { ValidationError } from '@capillary/contracts';
import { type JobQueues, liveWorkers } from '@capillary/queue';
import type { ExperimentRegistry } from './experiments.ts';
import type { PredictionRegistry } from './predictions.ts';

/** What one pass changed; all zero when Redis already agreed with Postgres. */
export interface ReconcileReport {
  enqueued: number;
  requeued: number;
  failed: number;
}

export interface ReconcilerDeps {
  db: PrismaClient;
  redis: Redis;
  queues: JobQueues;
  experiments: ExperimentRegistry;
  predictions: PredictionRegistry;
  heartbeatTtlMs: number;
  /** A queued row younger than this may still be on its way into the queue (API between commit and add). */
  graceMs?: number;
  log?: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

// Any 64-bit number unique to this purpose: the advisory lock that makes one reconciler the leader.
const LEADER_LOCK = 7_214_903_118;

// Failures BullMQ reports for jobs that lost their worker, not for runs that went wrong.
const LOST_WORKER = /stalled more than allowable limit|started more than allowable limit|Missing lock/i;

/** A queued row's training job as the reconciler re-creates it: at the place fixed when the row was created. */
export async function recreateTrainingJob(
  queues: JobQueues,
  experiments: ExperimentRegistry,
  row: { id: string; spec: unknown; apiKeyId: string | null; priority: number | null; queuePriority: number | null },
) {
  return queues.enqueue('training', { experimentId: row.id, spec: row.spec as never }, row.id, { priority: await experiments.queuePriorityOf(row) });
}

/**
 * Postgres is the truth; the reconciler makes Redis agree with it. Each pass, under a Postgres
 * advisory lock so one process at a time does it: re-creates the job of every queued row that
 * has none (job id = row id, so repeating is harmless), hands back running rows whose job is gone
 * and whose worker no longer reports them, re-creates jobs that died with their worker, and ends
 * rows whose job failed for good. The same for predictions.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Runs a pass now and then every `intervalMs` until `stop()`; errors are logged, never thrown. */
  start(intervalMs: number): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.pass()
        .catch((err) => this.deps.log?.warn({ err: (err as Error).message }, 'reconcile pass failed; retrying next interval'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass, or null when another process holds the leader lock. */
  async pass(): Promise<ReconcileReport | null> {
    return this.deps.db.$transaction(
      async (tx) => {
        const [{ leader }] = await tx.$queryRaw<{ leader: boolean }[]>`SELECT pg_try_advisory_xact_lock(${LEADER_LOCK}::bigint) AS leader`;
        if (!leader) return null;
        const live = await liveWorkers(this.deps.redis, this.deps.heartbeatTtlMs);
        const running = new Set(live.flatMap((w) => w.running));
        const report: ReconcileReport = { enqueued: 0, requeued: 0, failed: 0 };
        await this.experimentsPass(running, report);
        await this.predictionsPass(running, report);
        if (report.enqueued || report.requeued || report.failed) this.deps.log?.info({ ...report }, 'reconciled queue with database');
        return report;
      },
      { timeout: 120_000, maxWait: 10_000 },
    );
  }

  private async experimentsPass(live: Set<string>, report: ReconcileReport) {
    const { db, queues, experiments } = this.deps;
    const rows = await db.experiment.findMany({
      where: { status: { in: ['queued', 'running'] } },
      select: { id: true, status: true, attempts: true, spec: true, updatedAt: true, apiKeyId: true, priority: true, queuePriority: true },
    });
    for (const row of rows) {
      const enqueue = () => recreateTrainingJob(queues, experiments, row);
      await this.reconcileOne('training', row, live, report, {
        enqueue,
        requeueLost: () => experiments.requeueLost(row.id, row.attempts),
        failForGood: (m) => experiments.failForGood(row.id, m),
      });
    }
  }

  private async predictionsPass(live: Set<string>, report: ReconcileReport) {
    const { db, queues, predictions } = this.deps;
    const rows = await db.prediction.findMany({ where: { status: { in: ['queued', 'running'] } }, select: { id: true, status: true, attempts: true, experimentId: true, datasetName: true, createdAt: true, startedAt: true } });
    for (const row of rows) {
      await this.reconcileOne('prediction', { ...row, updatedAt: row.startedAt ?? row.createdAt }, live, report, {
        enqueue: () => queues.enqueue('prediction', { predictionId: row.id, experimentId: row.experimentId, dataset: row.datasetName }, row.id),
        requeueLost: () => predictions.requeueLost(row.id, row.attempts),
        failForGood: (m) => predictions.failForGood(row.id, m),
      });
    }
  }

  private async reconcileOne(
    kind: 'training' | 'prediction',
    row: { id: string; status: string; updatedAt: Date },
    live: Set<string>,
    report: ReconcileReport,
    act: { enqueue(): Promise<unknown>; requeueLost(): Promise<boolean>; failForGood(message: string): Promise<unknown> },
  ) {
    const job: Job | undefined = await this.deps.queues.queue(kind).getJob(row.id);
    const state = job ? await job.getState() : 'missing';
    const recreate = async () => {
      try {
        await act.enqueue();
        report.enqueued++;
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        // A row whose stored payload no longer passes the catalogue can never run.
        await act.failForGood(`cannot be queued: ${e.message}`);
        report.failed++;
      }
    };
    if (state === 'failed' || state === 'completed') {
      const reason = job?.failedReason ?? '';
      if (state === 'failed' && !LOST_WORKER.test(reason)) {
        await act.failForGood(reason || 'job failed');
        report.failed++;
        return;
      }
      // The job died with its worker, or finished without the row hearing of it: start over
      // from the last committed epoch under a fresh job.
      if (row.status === 'running' && (await act.requeueLost())) report.requeued++;
      await job!.remove();
      return recreate();
    }
    if (state !== 'missing' && state !== 'unknown') return; // waiting, delayed, prioritized or active: in hand
    if (row.status === 'running') {
      if (live.has(row.id)) return; // a live worker still holds it; its lock check will stop it if it must
      if (await act.requeueLost()) report.requeued++;
      return recreate();
    }
    if (Date.now() - row.updatedAt.getTime() < (this.deps.graceMs ?? 5000)) return;
    return recreate();
  }
}
