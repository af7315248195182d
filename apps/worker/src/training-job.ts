import { UnrecoverableError, type Job } from 'bullmq';
import type { PrismaClient } from '@capillary/db';
import type { EventPublisher } from '@capillary/queue';
import { latestCheckpoint, saveEpoch } from './checkpoints.ts';
import type { ToSandbox, VolumeRef } from './sandbox-protocol.ts';
import { jobPayload } from './job-payload.ts';
import { runSandbox } from './sandbox-runner.ts';

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

type VolumeRow = Parameters<typeof volumeRef>[0];

/**
 * Training and validation volumes: the named ones validate and the other labelled ones train, or,
 * without names, the volumes' split roles decide. A name the dataset lacks is a bad spec.
 */
export function splitVolumes(volumes: VolumeRow[], validationNames?: string[]) {
  const labelled = volumes.filter((v) => v.labelKey);
  if (validationNames?.length) {
    const missing = validationNames.filter((n) => !volumes.some((v) => v.name === n));
    if (missing.length) throw new UnrecoverableError(`spec.validationVolumes: no volume named ${missing.join(', ')} in the dataset`);
    return {
      trainRefs: labelled.filter((v) => !validationNames.includes(v.name)).map(volumeRef),
      validationRefs: labelled.filter((v) => validationNames.includes(v.name)).map(volumeRef),
    };
  }
  return {
    trainRefs: labelled.filter((v) => v.role === 'train').map(volumeRef),
    validationRefs: labelled.filter((v) => v.role === 'validation').map(volumeRef),
  };
}

/**
 * Runs one training job: validates the payload again, resumes from the newest stored checkpoint,
 * trains in a sandboxed child process, and stores every epoch before the next one starts.
 */
export async function runTrainingJob(job: Job, signal: AbortSignal | undefined, ctx: TrainingJobContext): Promise<{ epochsRun: number; score: number | null }> {
  const payload = jobPayload('training', job);
  const { experimentId, spec } = payload;
  const { db, events, workerId } = ctx;

  const experiment = await db.experiment.findUnique({ where: { id: experimentId }, include: { dataset: { include: { volumes: true } } } });
  if (!experiment) throw new UnrecoverableError(`experiment ${experimentId} does not exist`);
  if (experiment.status === 'cancelled') throw new CancelledError(experimentId);
  const { trainRefs, validationRefs } = splitVolumes(experiment.dataset.volumes, spec.validationVolumes);
  if (!trainRefs.length) {
    const why = `dataset ${experiment.dataset.name} has no labelled training volume`;
    await markFailed(db, experimentId, why);
    throw new UnrecoverableError(why);
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

  let epochsRun = resume?.epoch ?? 0;
  const start: ToSandbox = { type: 'start', experimentId, spec, train: trainRefs, validation: validationRefs.length ? validationRefs : trainRefs, resume: resume?.bytes ?? null };
  const outcome = await runSandbox(start, async (m, send) => {
    if (m.type === 'backend') {
      ctx.onBackend?.(m.backend);
      await db.experiment.update({ where: { id: experimentId }, data: { backend: m.backend } });
      await db.attempt.update({ where: { id: attempt.id }, data: { backend: m.backend } });
    } else if (m.type === 'progress') {
      await job.updateProgress({ epoch: m.epoch, step: m.step, steps: m.steps, loss: m.loss, epochs: spec.epochs });
      await events.publish(experimentId, { type: 'progress', epoch: m.epoch, step: m.step, steps: m.steps, loss: m.loss });
    } else if (m.type === 'epoch') {
      await saveEpoch(db, experimentId, m.report, m.checkpoint);
      epochsRun = m.report.epoch;
      send({ type: 'epoch-saved', epoch: m.report.epoch });
      const { isBest: _isBest, ...report } = m.report;
      await events.publish(experimentId, { type: 'epoch', ...report });
      await job.updateProgress({ epoch: m.report.epoch, epochs: spec.epochs, surfaceDice: m.report.surfaceDice });
    }
  }, signal, () => new CancelledError(experimentId));

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
