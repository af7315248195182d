import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import { JOBS, parseJobPayload, env, type JobKind, type JobPayload } from '@capillary/contracts';
import { bullmqTelemetry } from '@capillary/telemetry';
import type { RedisClient } from './connection.ts';
import { queuePrefix } from './redis-keys.ts';

/**
 * Options every Capillary job gets: retries with back-off, bounded history in Redis. Webhook
 * deliveries retry on their own schedule (WEBHOOK_ATTEMPTS, doubling from WEBHOOK_BACKOFF_MS);
 * their history is in Postgres, so Redis keeps little of it.
 */
function defaultJobOptions(kind?: JobKind): JobsOptions {
  const config = env();
  if (kind === 'webhook') {
    return {
      attempts: config.WEBHOOK_ATTEMPTS,
      backoff: { type: 'exponential', delay: config.WEBHOOK_BACKOFF_MS },
      removeOnComplete: { age: 24 * 3600, count: 1000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    };
  }
  return {
    attempts: config.JOB_ATTEMPTS,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 7 * 24 * 3600, count: 10000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/**
 * Producer side of the job catalogue: one BullMQ queue per catalogue entry, and payloads checked
 * against their schema before anything reaches Redis.
 */
export class JobQueues {
  private readonly queues = new Map<JobKind, Queue>();

  /**
   * Opens every queue of the catalogue at once: BullMQ writes a queue's meta key when it opens it,
   * and that belongs to start-up, not to whichever request first touches the queue.
   * `onError`: where connection errors go while Redis is unreachable (they are expected then).
   * `prefix`: of every key (`QUEUE_PREFIX`); workers must use the same.
   */
  constructor(
    private readonly connection: RedisClient,
    private readonly onError: (err: Error) => void = () => undefined,
    readonly prefix: string = queuePrefix(),
  ) {
    for (const kind of Object.keys(JOBS) as JobKind[]) this.queue(kind);
  }

  queue(kind: JobKind): Queue {
    let q = this.queues.get(kind);
    if (!q) {
      // With tracing on, each job carries the trace it was queued in; its worker continues it.
      q = new Queue(JOBS[kind].queue, { connection: this.connection, prefix: this.prefix, defaultJobOptions: defaultJobOptions(kind), telemetry: bullmqTelemetry() });
      q.on('error', this.onError);
      this.queues.set(kind, q);
    }
    return q;
  }

  /** Validates and queues one job; `jobId` makes a repeated add a no-op. */
  async enqueue<K extends JobKind>(kind: K, payload: JobPayload<K>, jobId: string, opts: JobsOptions = {}) {
    const data = parseJobPayload(kind, payload);
    return this.queue(kind).add(JOBS[kind].name, data, { ...opts, jobId });
  }

  /** Validates every payload first, so a bad one queues nothing, then adds them in one round trip. */
  async enqueueBulk<K extends JobKind>(kind: K, jobs: { payload: JobPayload<K>; jobId: string; priority?: number }[]) {
    const checked = jobs.map((j) => ({ name: JOBS[kind].name, data: parseJobPayload(kind, j.payload), opts: { jobId: j.jobId, priority: j.priority } }));
    return this.queue(kind).addBulk(checked);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

/**
 * Fan-out under a job that is already running (BullMQ flows): children checked against the
 * catalogue, each naming that job as its parent, which then waits for them in `waiting-children`.
 */
export class JobFlows {
  private readonly producer: FlowProducer;

  constructor(connection: RedisClient, onError: (err: Error) => void = () => undefined, readonly prefix: string = queuePrefix()) {
    this.producer = new FlowProducer({ connection, prefix, telemetry: bullmqTelemetry() });
    this.producer.on('error', onError);
  }

  /**
   * Adds children of `parent` (its id and `queueQualifiedName`); a child whose job id exists is
   * left as it is. A child that fails for good is set aside, not failing the parent: the parent
   * decides what a missing child means.
   */
  async addChildren<K extends JobKind>(kind: K, parent: { id: string; queue: string }, jobs: { payload: JobPayload<K>; jobId: string; priority?: number }[], opts: JobsOptions = {}) {
    const checked = jobs.map((j) => ({ name: JOBS[kind].name, queueName: JOBS[kind].queue, data: parseJobPayload(kind, j.payload), j }));
    return this.producer.addBulk(checked.map(({ name, queueName, data, j }) => ({
      name, queueName, data, prefix: this.prefix,
      opts: { ...defaultJobOptions(), ...opts, jobId: j.jobId, priority: j.priority, parent, ignoreDependencyOnFailure: true },
    })));
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}
