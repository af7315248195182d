import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UnrecoverableError, type Job } from 'bullmq';
import { parseJobPayload, ValidationError } from '@capillary/contracts';
import type { PrismaClient } from '@capillary/db';
import type { EventPublisher } from '@capillary/queue';
import { latestCheckpoint, saveEpoch } from './checkpoints.ts';
import type { FromSandbox, ToSandbox, VolumeRef } from './sandbox-protocol.ts';

const SANDBOX = fileURLToPath(new URL('./sandbox.ts', import.meta.url));

export interface TrainingJobContext {
  db: PrismaClient;
  events: EventPublisher;
  workerId: string;
  /** Called with the backend the sandbox picked, for the worker's heartbeat. */
  onBackend?: (backend: string) => void;
}

/** Thrown when a cancel request stopped the job; never retried. */
export class CancelledError extends UnrecoverableError {
  constructor(id: string) {
    super(`experiment ${id} was cancelled`);
    this.name = 'CancelledError';
  }
}

function volumeRef(v: { id: string; name: string; role: string; imageKey: string; labelKey: string | null; maskKey: string | null; dtype: string; depth: number; height: number; width: number; stats: unknown }): VolumeRef {
  const { id, name, role, imageKey, labelKey, maskKey, dtype, depth, height, width, stats } = v;
  return { id, name, role, imageKey, labelKey, maskKey, dtype, depth, height, width, stats };
}

/**
 * Runs one training job: validates the payload again, resumes from the newest stored checkpoint,
 * trains in a sandboxed child process, and stores every epoch before the next one starts.
 */
export async function runTrainingJob(job: Job, signal: AbortSignal | undefined, ctx: TrainingJobContext): Promise<{ epochsRun: number; score: number | null }> {
  let payload;
  try {
    payload = parseJobPayload('training', job.data);
  } catch (e) {
    throw new UnrecoverableError(e instanceof ValidationError ? e.message : String(e));
  }
  const { experimentId, spec } = payload;
  const { db, events, workerId } = ctx;

  const experiment = await db.experiment.findUnique({ where: { id: experimentId }, include: { dataset: { include: { volumes: true } } } });
  if (!experiment) throw new UnrecoverableError(`experiment ${experimentId} does not exist`);
  if (experiment.status === 'cancelled') throw new CancelledError(experimentId);
  const volumes = experiment.dataset.volumes;
  const trainRefs = volumes.filter((v) => v.role === 'train' && v.labelKey).map(volumeRef);
  const validationRefs = volumes.filter((v) => v.role === 'validation' && v.labelKey).map(volumeRef);
  if (!trainRefs.length) {
    await markFailed(db, experimentId, `dataset ${experiment.dataset.name} has no labelled training volume`);
    throw new UnrecoverableError(`dataset ${experiment.dataset.name} has no labelled training volume`);
  }

  const resume = await latestCheckpoint(db, experimentId);
  if (resume && resume.epoch >= spec.epochs) {
    // Every epoch is stored already: the previous attempt died while finishing up.
    return finish(db, events, experimentId, resume.epoch);
  }
  const attemptNumber = (await db.attempt.count({ where: { experimentId } })) + 1;
  const attempt = await db.attempt.create({ data: { experimentId, number: attemptNumber, workerId, resumedFromEpoch: resume?.epoch ?? 0 } });
  await db.experiment.update({
    where: { id: experimentId },
    data: { status: 'running', attempts: attemptNumber, workerId, startedAt: experiment.startedAt ?? new Date(), errorMessage: null },
  });
  await events.publish(experimentId, { type: 'status', status: 'running', workerId, attempt: attemptNumber, resumedFromEpoch: resume?.epoch ?? 0 });

  const child = fork(SANDBOX, [], { execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const toChild = (m: ToSandbox) => child.send(m);
  let epochsRun = resume?.epoch ?? 0;

  const outcome = await new Promise<{ ok: true } | { ok: false; error: Error }>((resolve) => {
    let settled = false;
    const settle = (r: { ok: true } | { ok: false; error: Error }) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      settle({ ok: false, error: new CancelledError(experimentId) });
    };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    // Messages are handled one at a time, in order: an epoch is stored before the next arrives.
    let chain = Promise.resolve();
    child.on('message', (m: FromSandbox) => {
      chain = chain.then(() => handle(m)).catch((e) => {
        child.kill('SIGKILL');
        settle({ ok: false, error: e as Error });
      });
    });
    const handle = async (m: FromSandbox) => {
      if (settled) return;
      if (m.type === 'backend') {
        ctx.onBackend?.(m.backend);
        await db.experiment.update({ where: { id: experimentId }, data: { backend: m.backend } });
        await db.attempt.update({ where: { id: attempt.id }, data: { backend: m.backend } });
      } else if (m.type === 'progress') {
        await job.updateProgress({ epoch: m.epoch, step: m.step, steps: m.steps, loss: m.loss, epochs: spec.epochs });
        await events.publish(experimentId, { type: 'progress', epoch: m.epoch, step: m.step, steps: m.steps, loss: m.loss });
      } else if (m.type === 'epoch') {
        const checkpoint = m.checkpoint instanceof Uint8Array ? m.checkpoint : new Uint8Array(m.checkpoint as ArrayBuffer);
        await saveEpoch(db, experimentId, m.report, checkpoint);
        epochsRun = m.report.epoch;
        toChild({ type: 'epoch-saved', epoch: m.report.epoch });
        const { isBest: _isBest, ...report } = m.report;
        await events.publish(experimentId, { type: 'epoch', ...report });
        await job.updateProgress({ epoch: m.report.epoch, epochs: spec.epochs, surfaceDice: m.report.surfaceDice });
      } else if (m.type === 'done') {
        settle({ ok: true });
      } else if (m.type === 'error') {
        const error = m.unrecoverable ? new UnrecoverableError(m.message) : new Error(m.message);
        settle({ ok: false, error });
      }
    };
    child.on('exit', (code, sig) => {
      // Let queued messages (a final epoch, done or error) land before judging the exit.
      void chain.then(() => settle({ ok: false, error: new Error(`training sandbox exited (code ${code}, signal ${sig}) before finishing`) }));
    });
    toChild({ type: 'start', experimentId, spec, train: trainRefs, validation: validationRefs.length ? validationRefs : trainRefs, resume: resume?.bytes ?? null });
  });
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');

  if (!outcome.ok) {
    const cancelled = outcome.error instanceof CancelledError;
    await db.attempt.update({ where: { id: attempt.id }, data: { endedAt: new Date(), outcome: cancelled ? 'cancelled' : `error: ${outcome.error.message.split('\n')[0]}` } });
    throw outcome.error;
  }
  await db.attempt.update({ where: { id: attempt.id }, data: { endedAt: new Date(), outcome: 'succeeded' } });
  return finish(db, events, experimentId, epochsRun);
}

async function finish(db: PrismaClient, events: EventPublisher, experimentId: string, epochsRun: number) {
  // A cancel that raced the last epoch wins: the row stays cancelled.
  await db.experiment.updateMany({ where: { id: experimentId, status: { in: ['queued', 'running'] } }, data: { status: 'succeeded', finishedAt: new Date() } });
  const row = await db.experiment.findUniqueOrThrow({ where: { id: experimentId } });
  await events.publish(experimentId, { type: 'status', status: row.status });
  return { epochsRun, score: row.score };
}

/** Marks an experiment failed unless a cancel got there first. */
export async function markFailed(db: PrismaClient, experimentId: string, message: string) {
  await db.experiment.updateMany({
    where: { id: experimentId, status: { notIn: ['cancelled', 'succeeded'] } },
    data: { status: 'failed', finishedAt: new Date(), errorMessage: message.slice(0, 4000) },
  });
}
