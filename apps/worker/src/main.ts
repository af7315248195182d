import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { Worker, type Job } from 'bullmq';
import pino from 'pino';
import { env, JOBS, type JobKind } from '@capillary/contracts';
import { prisma, disconnectPrisma } from '@capillary/db';
import { EventPublisher, EventSubscriber, JobFlows, JobQueues, redisConnection, HeartbeatWriter } from '@capillary/queue';
import { ExperimentRegistry, PredictionRegistry, SweepScheduler, webhookDispatch } from '@capillary/registry';
import { headBucket } from '@capillary/storage';
import { bullmqTelemetry, startTelemetry, stopTelemetry, traceFields } from '@capillary/telemetry';
import { runTrainingJob, type TrainingJobResult } from './training-job.ts';
import { runPredictionJob, type PredictionJobContext } from './prediction-job.ts';
import { runShardJob } from './shard-job.ts';
import { runProbeJob } from './probe-job.ts';
import { OutageGate } from './outage.ts';
import { RunControl } from './run-control.ts';
import { WorkerMetrics } from './metrics.ts';
import { detectCapacity } from './capacity.ts';
import { MemoryGate } from './memory-gate.ts';
import { TrialPacker } from './packing.ts';
import type { JobContext } from './job-context.ts';

type Handler = (job: Job, token: string | undefined, control: RunControl, ctx: JobContext) => Promise<unknown>;

/**
 * A Capillary worker: pulls training and prediction jobs, runs each in a sandbox, stops a run
 * the moment it is cancelled, fenced off or loses its lock, waits out outages without taking new
 * work, and on SIGTERM hands its runs back to the queue. Scale by starting more of these.
 */
export async function startWorker() {
  const config = env();
  await startTelemetry('capillary-worker');
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'worker' }, mixin: traceFields });
  // A name that says nothing about the host: /queue shows it to anyone (host and PID only to key holders).
  const workerId = config.WORKER_ID ?? `worker-${randomUUID().slice(0, 8)}`;
  const db = prisma();
  const connection = redisConnection();
  const subscriberConnection = redisConnection();
  for (const c of [connection, subscriberConnection]) c.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  const events = new EventPublisher(connection);
  const subscriber = new EventSubscriber(subscriberConnection);
  let backend = 'pending';
  const controls = new Map<string, RunControl>();
  /** The run (experiment or prediction) each held job works for: a shard's is its prediction. */
  const runOf = new Map<string, string>();
  const kinds = new Map<string, JobKind>();
  const metrics = new WorkerMetrics(() => {
    const held = [...kinds.values()];
    return { training: held.filter((k) => k === 'training').length, prediction: held.filter((k) => k === 'prediction' || k === 'predictionShard').length };
  });
  let idleSince = Date.now();
  const workers: Worker[] = [];
  // Training trials run side by side while their estimated step memory fits (docs/platform.md).
  const capacity = await detectCapacity(config, undefined, (m) => log.warn(m));
  const memory = new MemoryGate(capacity.mb);
  const packer = new TrialPacker(memory, config.WORKER_CONCURRENCY, log);

  const gate = new OutageGate(
    { postgres: () => db.$queryRaw`SELECT 1`, redis: () => connection.ping(), s3: () => headBucket() },
    {
      pause: async () => {
        log.warn('a service is unreachable: taking no new jobs until it answers');
        await Promise.all(workers.map((w) => w.pause(true)));
      },
      resume: () => {
        log.info('every service answers again: taking jobs');
        for (const w of workers) void w.resume().catch((err) => log.warn({ err: (err as Error).message }, 'could not resume'));
      },
      log: (down) => log.warn({ down }, 'still unreachable'),
    },
  );
  const flows = new JobFlows(connection, (err) => log.warn({ err: err.message }, 'flow producer error'));
  const queues = new JobQueues(connection, () => undefined);
  const ctx: PredictionJobContext = {
    db, events, workerId, log, config, flows,
    // A run's end queues its webhook deliveries after the commit, never waiting on them (the API posts them).
    experiments: new ExperimentRegistry(db, webhookDispatch(queues, log)),
    predictions: new PredictionRegistry(db),
    onOutage: () => gate.trip(),
    onBackend: (b) => (backend = b),
    onEpoch: ({ backend: b, model, seconds }) => metrics.epochCommitted(b, model, seconds),
  };

  // ASHA decisions are made once a paused trial's job has completed, so a trial promoted at once
  // gets a fresh job under its id (an active job's id cannot be reused).
  const sweeps = new SweepScheduler(ctx.experiments, queues, log, config);

  const processor = (kind: JobKind, handle: Handler) => (job: Job, token?: string, signal?: AbortSignal) =>
    kind === 'training' ? packer.run(job, token, () => hold(kind, handle, job, token, signal)) : hold(kind, handle, job, token, signal);
  const hold = async (kind: JobKind, handle: Handler, job: Job, token?: string, signal?: AbortSignal) => {
    const control = new RunControl(signal);
    controls.set(job.id!, control);
    kinds.set(job.id!, kind);
    const data = job.data as { experimentId?: string; predictionId?: string };
    runOf.set(job.id!, kind === 'training' ? (data.experimentId ?? job.id!) : (data.predictionId ?? job.id!));
    try {
      return await handle(job, token, control, ctx);
    } finally {
      controls.delete(job.id!);
      kinds.delete(job.id!);
      runOf.delete(job.id!);
      idleSince = Date.now();
    }
  };
  const options = {
    connection,
    prefix: config.QUEUE_PREFIX,
    lockDuration: config.QUEUE_LOCK_DURATION_MS,
    stalledInterval: config.QUEUE_STALLED_INTERVAL_MS,
    maxStalledCount: config.QUEUE_MAX_STALLED_COUNT,
    // With tracing on, a job's `process` span continues the trace it was queued in.
    telemetry: bullmqTelemetry(),
  };
  workers.push(
    new Worker(JOBS.training.queue, processor('training', runTrainingJob), { ...options, concurrency: config.WORKER_CONCURRENCY, name: workerId }),
    // Predictions share the worker's sandbox and settings; one at a time per worker.
    new Worker(JOBS.prediction.queue, processor('prediction', runPredictionJob as Handler), { ...options, concurrency: 1, name: `${workerId}-predict` }),
    // Shards of big predictions: any worker takes them, one at a time, beside its other work.
    new Worker(JOBS.predictionShard.queue, processor('predictionShard', runShardJob), { ...options, concurrency: 1, name: `${workerId}-shard` }),
    // Probes only wait on S3 and Postgres: they measure and check the path a run takes, one at a time.
    new Worker(JOBS.probe.queue, processor('probe', runProbeJob), { ...options, concurrency: 1, name: `${workerId}-probe` }),
  );
  packer.attach(workers.find((w) => w.name === JOBS.training.queue)!);
  for (const w of workers) {
    w.on('error', (err) => log.warn({ err: err.message }, 'queue error'));
    // The lock is someone else's now (or the job is gone): stop at once, write nothing more.
    w.on('lockRenewalFailed', (ids: string[]) => {
      for (const id of ids) controls.get(id)?.stop('lock-lost');
    });
    w.on('failed', (job, err) => log.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message.split('\n')[0] }, 'job ended without success'));
    // A trial that ended without success lets a TPE sweep decide its next one all the same.
    if (w.name === JOBS.training.queue) {
      w.on('failed', (job) => {
        const experimentId = (job?.data as { experimentId?: string } | undefined)?.experimentId;
        if (experimentId) void db.experiment.findUnique({ where: { id: experimentId }, select: { sweepId: true } }).then((r) => advanceSweep(r?.sweepId), () => undefined);
      });
    }
    w.on('completed', (job, result: TrainingJobResult | undefined) => {
      if (result?.paused) log.info({ jobId: job.id, rung: result.paused.rung }, 'trial paused at its rung');
      else log.info({ jobId: job.id }, 'job succeeded');
      advanceSweep(result?.paused?.sweepId ?? result?.sweepId);
    });
  }

  /** Decisions a sweep owes once one of its trials paused or ended; the reconciler makes them each pass, should this fail or the worker die. */
  function advanceSweep(sweepId: string | null | undefined) {
    if (!sweepId) return;
    void sweeps.advance(sweepId).then(
      (d) => log.info({ sweepId, ...d }, 'sweep advanced'),
      (err) => log.warn({ err: (err as Error).message, sweepId }, 'could not advance the sweep; the reconciler will'),
    );
  }

  // The fast path of a cancel; the durable one is the run check every RUN_CHECK_INTERVAL_MS.
  await subscriber.onCancel((id) => {
    for (const [jobId, control] of controls) {
      if (jobId !== id && runOf.get(jobId) !== id) continue;
      log.info({ id, jobId }, 'cancelling');
      control.stop('cancelled');
    }
  });

  const heartbeat = new HeartbeatWriter(connection, () => ({
    id: workerId, backend, concurrency: config.WORKER_CONCURRENCY, memoryMB: memory.capacityMB, memoryInUseMB: memory.inUseMB, running: [...controls.keys()], pid: process.pid, host: os.hostname(),
  }), config.HEARTBEAT_INTERVAL_MS);
  await heartbeat.start();
  if (config.WORKER_METRICS_PORT > 0) {
    const port = await metrics.listen(config.WORKER_METRICS_PORT, config.HOST);
    log.info({ port, host: config.HOST }, 'serving /metrics');
  }
  // A worker run as a Kubernetes Job (KEDA ScaledJob) must end for the Job to complete: it exits
  // once it has held no run for WORKER_IDLE_EXIT_MS, and KEDA starts new ones while work waits.
  const idleCheck = config.WORKER_IDLE_EXIT_MS > 0
    ? setInterval(() => {
      if (controls.size === 0 && Date.now() - idleSince >= config.WORKER_IDLE_EXIT_MS) onSignal('idle');
    }, Math.min(1000, config.WORKER_IDLE_EXIT_MS))
    : undefined;

  const shutdown = async (signal: string) => {
    log.info({ signal, running: [...controls.keys()] }, 'worker shutting down: handing runs back');
    clearInterval(idleCheck);
    gate.close();
    // Close first so nothing new is fetched, then stop the sandboxes; close waits for the
    // processors, which hand their runs back to the queue without counting a stall.
    const closing = Promise.all(workers.map((w) => w.close()));
    for (const control of controls.values()) control.stop('shutdown');
    await closing;
    await heartbeat.stop();
    await subscriber.close();
    await flows.close().catch(() => undefined);
    connection.disconnect();
    await disconnectPrisma();
    await metrics.close();
    await stopTelemetry();
  };
  // Armed by the first signal; later ones (or the idle check) find it set and wait on that shutdown.
  let deadline: NodeJS.Timeout | undefined;
  const onSignal = (signal: string) => {
    if (deadline) return;
    // With Redis down a hand-over (moveToDelayed) and every close waits for a reconnect that may
    // never come. The runs are safe without it: their jobs' locks expire, stalled-job recovery
    // returns them once Redis is back, and the next worker resumes from the last committed epoch.
    deadline = setTimeout(() => {
      log.warn({ signal, timeoutMs: config.WORKER_SHUTDOWN_TIMEOUT_MS, running: [...controls.keys()] }, 'shutdown deadline passed: exiting without a clean hand-over; the runs return as stalled jobs');
      process.exit(1);
    }, config.WORKER_SHUTDOWN_TIMEOUT_MS).unref();
    void shutdown(signal).then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  log.info({ workerId, concurrency: config.WORKER_CONCURRENCY, memoryMB: capacity.mb, memorySource: capacity.source }, 'worker ready');
  return workers[0];
}

if (import.meta.url === `file://${process.argv[1]}`) await startWorker();
