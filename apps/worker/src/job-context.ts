import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Env } from '@capillary/contracts';
import type { PrismaClient } from '@capillary/db';
import type { EventPublisher } from '@capillary/queue';
import { FencedError, type ExperimentRegistry, type PredictionRegistry } from '@capillary/registry';
import { OutageError, waitOut } from './outage.ts';
import { CancelledError, RunStopped, type RunControl } from './run-control.ts';

/** What a job handler needs from its worker. */
export interface JobContext {
  db: PrismaClient;
  experiments: ExperimentRegistry;
  predictions: PredictionRegistry;
  events: EventPublisher;
  workerId: string;
  config: Pick<Env, 'RUN_CHECK_INTERVAL_MS' | 'OUTAGE_MAX_WAIT_MS' | 'WORKER_PICKUP_DELAY_MS' | 'JOB_TIMEOUT_MS' | 'CHECKPOINT_KEEP_LAST'>;
  /** A service was unreachable: stop taking new jobs until it answers. */
  onOutage(e: unknown): void;
  onBackend?(backend: string): void;
  /** An epoch was committed after `seconds` of wall time (for the worker's metrics). */
  onEpoch?(epoch: { backend: string; model: string; seconds: number }): void;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

/** Waits out an outage in place for as long as the configuration allows, unless the run is stopped. */
export function infra<T>(ctx: JobContext, control: RunControl | undefined, fn: () => Promise<T>): Promise<T> {
  return waitOut(fn, { signal: control?.signal, maxMs: ctx.config.OUTAGE_MAX_WAIT_MS, onOutage: (e) => ctx.onOutage(e) });
}

/** Best effort: live events and job progress are a convenience; an outage must not stop a run over them. */
export async function bestEffort(fn: () => Promise<unknown>): Promise<void> {
  await fn().catch(() => undefined);
}

/** The drills' pickup window: a pause between taking a job and opening its attempt. */
export async function pickupDelay(ctx: JobContext, signal: AbortSignal) {
  if (ctx.config.WORKER_PICKUP_DELAY_MS > 0) await sleep(ctx.config.WORKER_PICKUP_DELAY_MS, undefined, { signal }).catch(() => undefined);
}

/**
 * Re-reads the run every few seconds while it trains: a cancel recorded in Postgres stops it
 * even when the pub/sub message never arrived, and a newer attempt fences this one off. Also
 * enforces the job's time limit. Returns the function that stops the watch.
 */
export function watchRun(ctx: JobContext, control: RunControl, check: () => Promise<'ok' | FencedError['reason']>): () => void {
  const timer = setInterval(() => {
    void check().then((v) => v !== 'ok' && control.stop(v), () => undefined);
  }, ctx.config.RUN_CHECK_INTERVAL_MS);
  const limit = ctx.config.JOB_TIMEOUT_MS > 0 ? setTimeout(() => control.stop('timeout'), ctx.config.JOB_TIMEOUT_MS) : undefined;
  return () => {
    clearInterval(timer);
    clearTimeout(limit);
  };
}

/** The first line of an error and of each cause under it, for logs. */
export function errorSummary(e: unknown): string {
  const parts: string[] = [];
  for (let err = e as { message?: unknown; name?: string; code?: unknown; cause?: unknown } | undefined, depth = 0; err && depth < 5; err = err.cause as typeof err, depth++) {
    if (typeof err !== 'object') {
      parts.push(String(err));
      break;
    }
    const code = err.code ? ` [${String(err.code)}]` : '';
    parts.push(`${err.name ?? 'Error'}${code}: ${String(err.message ?? '').split('\n')[0]}`);
  }
  return parts.join(' <- ');
}

/** What to record and how to end the BullMQ job, for each way an attempt can end early. */
export interface AttemptEnding {
  handOver(): Promise<void>;
  fail(message: string, final: boolean): Promise<void>;
  closeCancelled(): Promise<void>;
  what: string;
}

/**
 * Turns the error that ended an attempt into the error the processor throws, after recording it:
 * - cancelled: attempt closed as cancelled, the job fails without retries;
 * - superseded, lock lost, ended: nothing written (someone else owns the run now);
 * - shutdown, outage: the run is handed back and the job delayed without spending an attempt;
 * - timeout and errors of the run itself: recorded, and BullMQ retries while attempts remain.
 */
export async function endAttempt(ctx: JobContext, job: Job, token: string | undefined, e: unknown, end: AttemptEnding): Promise<Error> {
  const reason = e instanceof RunStopped ? e.reason : e instanceof FencedError ? e.reason : e instanceof OutageError ? 'outage' : null;
  const quiet = (p: Promise<unknown>) => p.catch((err) => ctx.log.warn({ err: (err as Error).message, jobId: job.id }, 'could not record how the attempt ended'));
  switch (reason) {
    case 'cancelled':
      await quiet(waitOut(() => end.closeCancelled(), { maxMs: 30_000 }));
      return new CancelledError(end.what);
    case 'superseded':
    case 'lock-lost':
    case 'ended':
      ctx.log.warn({ jobId: job.id, reason }, 'stopped a run this worker no longer owns');
      return new UnrecoverableError(`${end.what}: ${reason}`);
    case 'shutdown':
    case 'outage': {
      await quiet(waitOut(() => end.handOver(), { maxMs: reason === 'shutdown' ? 5_000 : 30_000 }));
      const delay = reason === 'shutdown' ? 0 : 5_000;
      await quiet(job.moveToDelayed(Date.now() + delay, token));
      // Every hand-back names the error behind it: an outage nobody can see is one nobody can fix.
      ctx.log.warn({ jobId: job.id, reason, err: errorSummary(e) }, 'handed the run back to the queue');
      return new DelayedError(`${end.what} handed back: ${reason}`);
    }
    default: {
      const err = reason === 'timeout' ? new UnrecoverableError(`${end.what} exceeded its time limit of ${ctx.config.JOB_TIMEOUT_MS} ms`) : (e as Error);
      const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      await quiet(waitOut(() => end.fail(err.message, final), { maxMs: ctx.config.OUTAGE_MAX_WAIT_MS }).catch((x) => (x instanceof FencedError ? undefined : Promise.reject(x))));
      return err;
    }
  }
}
