import { randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import type { PrismaClient } from '@capillary/db';
import { ValidationError, type CostLimits } from '@capillary/contracts';
import { type JobQueues, type RedisClient, RECONCILER_LEADER_KEY, liveWorkers } from '@capillary/queue';
import type { ExperimentRegistry } from './experiments.ts';
import type { PredictionRegistry } from './predictions.ts';
import { SweepScheduler } from './sweep-scheduler.ts';
import { requeueLostDeliveries } from './webhooks.ts';

/** What one pass changed; all zero when Redis already agreed with Postgres. */
export interface ReconcileReport {
  enqueued: number;
  requeued: number;
  failed: number;
  /** ASHA trials promoted or stopped by decisions no worker had made (it died after pausing). */
  promoted?: number;
  stopped?: number;
  /** TPE trials decided after trials ended whose worker had not decided (it died first). */
  decided?: number;
  /** Held trials of capped sweeps queued because places had come free (a release lost with its worker). */
  released?: number;
  /** Webhook deliveries whose job was never queued (Redis refused it after the commit) or was lost. */
  webhooks?: number;
}

export interface ReconcilerDeps {
  db: PrismaClient;
  redis: RedisClient;
  queues: JobQueues;
  experiments: ExperimentRegistry;
  predictions: PredictionRegistry;
  heartbeatTtlMs: number;
  /** The cost limits a decided sweep trial must keep (the API's). */
  limits?: CostLimits;
  /** A queued row younger than this may still be on its way into the queue (API between commit and add). */
  graceMs?: number;
  /** How long a leader's claim lasts unless a pass renews it (at least three intervals). */
  leaseMs?: number;
  log?: { warn(o: object, m: string): void; info(o: object, m: string): void };
  /** Told after each pass this process made as the leader (the API's metrics read it). */
  onPass?: (report: ReconcileReport) => void;
}

// One reconciler at a time: a lease in Redis, renewed by every pass of its holder. Every action
// of a pass is idempotent (job id = row id, guarded transitions), so a lease that lapses during a
// long pass costs duplicate work, never a wrong state. A lease, unlike a transaction held open
// for the whole pass, lasts however long a pass takes.
const RENEW_OWN = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_OWN = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

// Failures BullMQ reports for jobs that lost their worker, not for runs that went wrong.
const LOST_WORKER = /stalled more than allowable limit|started more than allowable limit|Missing lock/i;

/** A queued row's training job as the reconciler re-creates it: at the place fixed when the row was created. */
export async function recreateTrainingJob(
  queues: JobQueues,
  experiments: ExperimentRegistry,
  row: { id: string; spec: unknown; createdById: string | null; priority: number | null; queuePriority: number | null },
) {
  return queues.enqueue('training', { experimentId: row.id, spec: row.spec as never }, row.id, { priority: await experiments.queuePriorityOf(row) });
}

/**
 * Postgres is the truth; the reconciler makes Redis agree with it. Each pass, by the one process
 * holding the leader lease: re-creates the job of every queued row that
 * has none (job id = row id, so repeating is harmless), hands back running rows whose job is gone
 * and whose worker no longer reports them, re-creates jobs that died with their worker, and ends
 * rows whose job failed for good. The same for predictions.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private readonly id = randomUUID();
  private leaseMs: number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.leaseMs = deps.leaseMs ?? 30_000;
  }

  /** Runs a pass now and then every `intervalMs` until `stop()`; errors are logged, never thrown. */
  start(intervalMs: number): void {
    this.leaseMs = Math.max(this.leaseMs, 3 * intervalMs);
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

  /** Stops the passes and hands the lease on at once, so another API process takes over. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.deps.redis.eval(RELEASE_OWN, 1, RECONCILER_LEADER_KEY, this.id).catch(() => undefined);
  }

  /** One pass, or null when another process holds the leader lease. */
  async pass(): Promise<ReconcileReport | null> {
    if (!(await this.lead())) return null;
    const live = await liveWorkers(this.deps.redis, this.deps.heartbeatTtlMs);
    const running = new Set(live.flatMap((w) => w.running));
    const report: ReconcileReport = { enqueued: 0, requeued: 0, failed: 0 };
    await this.experimentsPass(running, report);
    await this.predictionsPass(running, report);
    await this.sweepsPass(report);
    await this.webhooksPass(report);
    if (Object.values(report).some((n) => n)) this.deps.log?.info({ ...report }, 'reconciled queue with database');
    this.deps.onPass?.(report);
    return report;
  }

  /** Takes the lease when nobody holds it, or renews it when this process does. */
  private async lead(): Promise<boolean> {
    const { redis } = this.deps;
    if ((await redis.set(RECONCILER_LEADER_KEY, this.id, 'PX', this.leaseMs, 'NX')) === 'OK') return true;
    return (await redis.eval(RENEW_OWN, 1, RECONCILER_LEADER_KEY, this.id, String(this.leaseMs))) === 1;
  }

  private async experimentsPass(live: Set<string>, report: ReconcileReport) {
    const { db, queues, experiments } = this.deps;
    const rows = await db.experiment.findMany({
      where: { status: { in: ['queued', 'running'] } },
      select: { id: true, status: true, attempts: true, spec: true, updatedAt: true, createdById: true, priority: true, queuePriority: true },
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

  /**
   * Paused and held rows are waiting, not lost: they have no job on purpose. Their sweeps' decisions are
   * made again here (idempotent), so a promotion or stop that died with its worker still happens;
   * and so is every open TPE sweep's next trial, should the worker that ended a trial have died,
   * and the release of a capped sweep's held trials (never past its cap: see sweep-cap.ts).
   */
  private async sweepsPass(report: ReconcileReport) {
    const { db, queues, experiments } = this.deps;
    const waiting = await db.experiment.findMany({ where: { status: { in: ['paused', 'held'] }, sweepId: { not: null } }, distinct: ['sweepId'], select: { sweepId: true } });
    const tpe = await db.sweep.findMany({ where: { strategy: 'tpe', closedAt: null }, select: { id: true } });
    const ids = new Set([...waiting.map((w) => w.sweepId!), ...tpe.map((s) => s.id)]);
    if (!ids.size) return;
    const scheduler = new SweepScheduler(experiments, queues, this.deps.log, this.deps.limits);
    for (const sweepId of ids) {
      const { promoted, stopped, decided, released } = await scheduler.advance(sweepId);
      report.promoted = (report.promoted ?? 0) + promoted.length;
      report.stopped = (report.stopped ?? 0) + stopped.length;
      if (decided.length) report.decided = (report.decided ?? 0) + decided.length;
      if (released.length) report.released = (report.released ?? 0) + released.length;
    }
  }

  /** The outbox's other half: pending webhook deliveries that have no job get one (webhooks.ts). */
  private async webhooksPass(report: ReconcileReport) {
    const n = await requeueLostDeliveries(this.deps.db, this.deps.queues, this.deps.graceMs ?? 5000);
    if (n) report.webhooks = n;
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
