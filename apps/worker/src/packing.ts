import { DelayedError, WaitingError, type Job, type Worker } from 'bullmq';
import { stepMemoryMB } from '@capillary/contracts';
import { jobPayload } from './job-payload.ts';
import type { Admission, MemoryGate } from './memory-gate.ts';

/**
 * How long a trial larger than this worker's whole capacity stays out of the queue: long enough
 * that an idle worker does not fetch it again in a loop, short enough that a bigger worker (or
 * one that joins later) takes it soon.
 */
export const NEVER_HERE_DELAY_MS = 10_000;

const int = (n: number) => (n >= 10 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

/** A trial's estimated step memory; 0 for a payload the handler will refuse anyway. */
export function trialEstimateMB(job: Job): number {
  try {
    return stepMemoryMB(jobPayload('training', job).spec);
  } catch {
    return 0;
  }
}

/**
 * Runs training jobs on one worker while their estimated step memory fits (see {@link MemoryGate}).
 * BullMQ fetches a job before anyone can look at it, so a fetched job that does not fit is handed
 * back from inside the processor, the way BullMQ documents it (move the job with the lock's token,
 * then throw the matching error so the worker neither completes nor fails it; no attempt is spent):
 * - larger than the whole capacity: `moveToDelayed` for NEVER_HERE_DELAY_MS, so other (bigger)
 *   workers can take it while this one goes on with the jobs behind it;
 * - fits, but not beside what runs now: `moveToWait`, which puts it back at the head of its
 *   priority, so it keeps its place and any worker with room takes it at once; this worker then
 *   fetches nothing more until one of its trials ends (its BullMQ concurrency drops to the trials it
 *   runs), instead of fetching and handing back the same job in a loop.
 * Waiting in place for memory instead would keep the job active here, out of reach of an idle worker.
 */
export class TrialPacker {
  private worker: Worker | undefined;

  constructor(
    private readonly gate: MemoryGate,
    /** WORKER_CONCURRENCY: the most trials at once, whatever their size. */
    private readonly slots: number,
    private readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void },
  ) {}

  /** The BullMQ worker of the training queue, whose fetching the packer holds back. */
  attach(worker: Worker): void {
    this.worker = worker;
  }

  /** Runs `work` once the job's trial is admitted; hands the job back when it does not fit. */
  async run<T>(job: Job, token: string | undefined, work: () => Promise<T>): Promise<T> {
    const admission = this.gate.admit(job.id!, trialEstimateMB(job));
    if (!admission.admitted) throw await this.handBack(job, token, admission);
    try {
      return await work();
    } finally {
      this.gate.release(job.id!);
      if (this.worker && this.worker.concurrency !== this.slots) this.worker.concurrency = this.slots;
    }
  }

  private async handBack(job: Job, token: string | undefined, a: Exclude<Admission, { admitted: true }>): Promise<Error> {
    const what = `trial ${job.id} needs an estimated ${int(a.estimateMB)} MB of step memory`;
    const fields = { jobId: job.id, estimateMB: a.estimateMB, capacityMB: a.capacityMB, inUseMB: a.inUseMB };
    // A move that fails (lock lost, Redis down) leaves the job active without a lock: stalled-job
    // recovery returns it to the queue, so the error is logged and the job left alone all the same.
    const move = (p: Promise<unknown>) => p.then(() => null, (err: Error) => err.message);
    if (a.reason === 'never') {
      const failed = await move(job.moveToDelayed(Date.now() + NEVER_HERE_DELAY_MS, token));
      const reason = `${what}, more than this worker's whole capacity of ${int(a.capacityMB)} MB (WORKER_MEMORY_MB)`;
      this.log.warn({ ...fields, moveError: failed }, `handed back to other workers: ${reason}`);
      return new DelayedError(reason);
    }
    // Nothing more is fetched until a trial here ends and its memory is free.
    if (this.worker) this.worker.concurrency = Math.max(1, this.gate.count);
    const failed = await move(job.moveToWait(token));
    const reason = `${what}; ${int(a.inUseMB)} of this worker's ${int(a.capacityMB)} MB are taken by the trials it runs`;
    this.log.info({ ...fields, moveError: failed }, `handed back to the queue until memory is free: ${reason}`);
    return new WaitingError(reason);
  }
}
