import os from 'node:os';
import { Worker, UnrecoverableError, type Job } from 'bullmq';
import { env, JOBS } from '@capillary/contracts';
import { prisma, disconnectPrisma } from '@capillary/db';
import { EventPublisher, EventSubscriber, redisConnection, writeHeartbeat, removeHeartbeat } from '@capillary/queue';
import { runTrainingJob, markFailed, CancelledError } from './training-job.ts';
import { runPredictionJob } from './prediction-job.ts';
import pino from 'pino';

/**
 * A Capillary worker: pulls training jobs, runs each in a sandbox, listens for cancellations and
 * announces itself for the dashboard. Scale by starting more of these.
 */
export async function startWorker() {
  const config = env();
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'worker' } });
  const workerId = config.WORKER_ID ?? `${os.hostname()}-${process.pid}`;
  const db = prisma();
  const connection = redisConnection();
  const events = new EventPublisher(connection);
  const subscriber = new EventSubscriber(redisConnection());
  let backend = 'pending';
  const running = new Set<string>();

  const worker = new Worker(
    JOBS.training.queue,
    async (job: Job, _token?: string, signal?: AbortSignal) => {
      running.add(job.id!);
      try {
        return await runTrainingJob(job, signal, { db, events, workerId, onBackend: (b) => (backend = b) });
      } finally {
        running.delete(job.id!);
      }
    },
    {
      connection,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.QUEUE_LOCK_DURATION_MS,
      stalledInterval: config.QUEUE_STALLED_INTERVAL_MS,
      maxStalledCount: config.QUEUE_MAX_STALLED_COUNT,
      name: workerId,
    },
  );

  // Predictions share the worker's sandbox and settings; one at a time per worker.
  const predictor = new Worker(JOBS.prediction.queue, (job: Job, _token?: string, signal?: AbortSignal) => runPredictionJob(job, signal, db), {
    connection,
    concurrency: 1,
    lockDuration: config.QUEUE_LOCK_DURATION_MS,
    stalledInterval: config.QUEUE_STALLED_INTERVAL_MS,
    maxStalledCount: config.QUEUE_MAX_STALLED_COUNT,
    name: `${workerId}-predict`,
  });
  predictor.on('error', (err) => log.error({ err }, 'prediction worker error'));

  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    log.warn({ jobId: job.id, attempt: job.attemptsMade, final, err: err.message }, 'training job failed');
    if (final && !(err instanceof CancelledError)) {
      const id = (job.data as { experimentId?: string }).experimentId;
      if (id) void markFailed(db, id, err.message).then(() => events.publish(id, { type: 'status', status: 'failed', error: err.message.split('\n')[0] }));
    }
  });
  worker.on('completed', (job) => log.info({ jobId: job.id }, 'training job succeeded'));
  worker.on('error', (err) => log.error({ err }, 'worker error'));

  // A cancel is broadcast; only the worker that holds the job has something to abort.
  await subscriber.onCancel((experimentId) => {
    if (running.has(experimentId)) {
      log.info({ experimentId }, 'cancelling');
      worker.cancelJob(experimentId, 'cancelled by request');
    }
  });

  const beat = () =>
    writeHeartbeat(connection, {
      id: workerId, backend, concurrency: config.WORKER_CONCURRENCY, running: [...running], pid: process.pid, host: os.hostname(), lastSeen: new Date().toISOString(),
    }).catch(() => {});
  await beat();
  const heartbeat = setInterval(beat, 5000);

  const shutdown = async (signal: string) => {
    log.info({ signal }, 'worker shutting down');
    clearInterval(heartbeat);
    await Promise.all([worker.close(), predictor.close()]);
    await removeHeartbeat(connection, workerId).catch(() => {});
    await subscriber.close();
    connection.disconnect();
    await disconnectPrisma();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  log.info({ workerId, concurrency: config.WORKER_CONCURRENCY }, 'worker ready');
  return worker;
}

if (import.meta.url === `file://${process.argv[1]}`) await startWorker();
