import { UnrecoverableError, type Job } from 'bullmq';
import { latestCheckpoint, uploadCheckpoint } from './checkpoints.ts';
import { deleteObjects } from '@capillary/storage';
import type { ToSandbox, VolumeRef } from '@capillary/contracts';
import { linkToOrigin, recordFailure, withSpan, type Span } from '@capillary/telemetry';
import { EpochSpans } from './epoch-spans.ts';
import { jobPayload } from './job-payload.ts';
import { runSandbox } from './sandbox-runner.ts';
import { bestEffort, endAttempt, infra, pickupDelay, watchRun, type JobContext } from './job-context.ts';
import { RunControl } from './run-control.ts';
import { scoreTestVolumes } from './test-scoring.ts';
import { splitVolumes, volumeRef } from './volume-roles.ts';

export { CancelledError } from './run-control.ts';


/** How a training job ended: finished, or (ASHA) paused at its rung for the sweep to decide. */
export type TrainingJobResult = { epochsRun: number; score: number | null; sweepId?: string | null; paused?: { sweepId: string | null; rung: number | null } };

/**
 * Runs one training job: validates the payload again, opens an attempt (its fencing token),
 * resumes from the newest verified checkpoint, trains in a sandboxed child process and commits
 * every epoch under the fence before the next one starts. Outages are waited out in place;
 * `control` stops the run for a cancel, a lost lock, a newer attempt or a shutdown.
 */
export async function runTrainingJob(job: Job, token: string | undefined, control: RunControl, ctx: JobContext): Promise<TrainingJobResult> {
  const { experimentId, spec } = jobPayload('training', job);
  const { db, events, experiments, workerId } = ctx;
  await pickupDelay(ctx, control.signal);
  const { fence, lastEpoch } = await infra(ctx, control, () => experiments.openAttempt(experimentId, workerId));
  const ending = {
    what: `experiment ${experimentId}`,
    handOver: () => experiments.handOver(fence, control.signal.aborted ? String(control.stopped().reason) : 'outage'),
    fail: async (m: string, final: boolean) => {
      await experiments.fail(fence, m, final);
      if (final) await bestEffort(() => events.publish(experimentId, { type: 'status', status: 'failed', error: m.split('\n')[0] }));
    },
    closeCancelled: () => experiments.closeCancelled(fence),
  };
  const unwatch = watchRun(ctx, control, () => experiments.check(fence));
  try {
    const attributes = { 'capillary.experiment.id': experimentId, 'capillary.attempt': fence.attempt, 'capillary.worker.id': workerId };
    return await withSpan('experiment.attempt', { attributes }, (span) => train(span));
  } catch (e) {
    throw await endAttempt(ctx, job, token, e, ending);
  } finally {
    unwatch();
  }

  async function train(attemptSpan: Span) {
    // Independent reads, at once: they stand between the pickup and the "running" report.
    const [experiment, resume] = await Promise.all([
      infra(ctx, control, () => db.experiment.findUniqueOrThrow({ where: { id: experimentId }, include: { dataset: { include: { volumes: true } } } })),
      infra(ctx, control, () => latestCheckpoint(db, experimentId)),
    ]);
    // A job the reconciler re-created starts a trace of its own: the link leads back to the request.
    linkToOrigin(attemptSpan, experiment.traceparent);
    const { trainRefs, validationRefs } = splitVolumes(experiment.dataset.volumes, spec.validationVolumes);
    if (!trainRefs.length) throw new UnrecoverableError(`dataset ${experiment.dataset.name} has no labelled training volume`);
    // An unreadable newest checkpoint: retrain from the newest good one, keeping epochs 1..N exact.
    if ((resume?.epoch ?? 0) < lastEpoch) await deleteDropped(await infra(ctx, control, () => experiments.rewindTo(fence, resume?.epoch ?? 0)));
    await bestEffort(() => events.publish(experimentId, { type: 'status', status: 'running', workerId, attempt: fence.attempt, resumedFromEpoch: resume?.epoch ?? 0 }));
    // ASHA: this leg ends at the rung's epoch (the row says which); the schedule stays that of spec.epochs.
    const pauseAt = experiment.pauseAtEpoch !== null && experiment.pauseAtEpoch < spec.epochs ? experiment.pauseAtEpoch : undefined;
    // Training ended already (the last epoch, or early stopping): only the test scoring is left.
    const trained = experiment.trainedEpochs;
    if (resume && (resume.epoch >= spec.epochs || (trained !== null && resume.epoch >= trained))) return finish(resume.epoch);
    if (resume && pauseAt !== undefined && resume.epoch >= pauseAt) return pause(resume.epoch);
    const validatedOnTraining = !validationRefs.length;

    let epochsRun = resume?.epoch ?? 0;
    // An epoch's time runs from the sandbox's backend report (the first) or the previous commit.
    let backend = 'unknown';
    let epochStartedAt = performance.now();
    const start: ToSandbox = { type: 'start', experimentId, spec, train: trainRefs, validation: validationRefs.length ? validationRefs : trainRefs, resume: resume?.bytes ?? null, stopAfterEpoch: pauseAt, retuned: resume?.copied };
    let spans: EpochSpans | undefined;
    const onMessage: Parameters<typeof runSandbox>[1] = async (m, send) => {
      if (m.type === 'backend') {
        ctx.onBackend?.(m.backend);
        backend = m.backend;
        epochStartedAt = performance.now();
        spans?.startsNow(epochsRun + 1);
        await infra(ctx, control, () => experiments.recordBackend(fence, m.backend));
      } else if (m.type === 'progress') {
        spans?.progress(m.epoch);
        await bestEffort(() => job.updateProgress({ epoch: m.epoch, step: m.step, steps: m.steps, loss: m.loss, epochs: spec.epochs }));
        await bestEffort(() => events.publish(experimentId, { type: 'progress', epoch: m.epoch, step: m.step, steps: m.steps, loss: m.loss }));
      } else if (m.type === 'epoch') {
        const { isBest: _isBest, ...report } = m.report;
        // Checked before the upload too, so a fenced-off attempt stops without writing anything.
        const verdict = await infra(ctx, control, () => experiments.check(fence));
        if (verdict !== 'ok') return control.stop(verdict);
        const checkpoint = await infra(ctx, control, () => uploadCheckpoint(experimentId, report.epoch, fence.attempt, m.checkpoint));
        // Retention runs in the commit's transaction; the dropped objects go only after it.
        const { replacedKeys, prunedKeys = [] } = await infra(ctx, control, () => experiments.commitEpoch(fence, { ...report, checkpoint }, { keepLast: ctx.config.CHECKPOINT_KEEP_LAST, validatedOnTraining }));
        epochsRun = report.epoch;
        ctx.onEpoch?.({ backend, model: spec.model, seconds: (performance.now() - epochStartedAt) / 1000 });
        epochStartedAt = performance.now();
        send({ type: 'epoch-saved', epoch: report.epoch });
        await deleteDropped([...replacedKeys, ...prunedKeys]);
        await bestEffort(() => events.publish(experimentId, { type: 'epoch', ...report }));
        await bestEffort(() => job.updateProgress({ epoch: report.epoch, epochs: spec.epochs, surfaceDice: report.surfaceDice }));
        spans?.committed({ 'capillary.backend': backend, ...(report.surfaceDice !== null ? { 'capillary.surface_dice': report.surfaceDice } : {}) });
        spans?.startsNow(report.epoch + 1);
      }
    };
    const sandboxAttributes = { 'capillary.experiment.id': experimentId, 'capillary.attempt': fence.attempt, 'capillary.resumed_from_epoch': resume?.epoch ?? 0 };
    const outcome = await withSpan('sandbox.train', { attributes: sandboxAttributes }, async (sandboxSpan) => {
      spans = new EpochSpans(sandboxSpan, { 'capillary.experiment.id': experimentId, 'capillary.attempt': fence.attempt });
      const result = await runSandbox(start, (m, send) => (m.type === 'epoch' ? spans!.within(m.report.epoch, () => onMessage(m, send)) : onMessage(m, send)), control.signal, () => control.stopped());
      spans.close(result.ok ? undefined : result.error);
      if (!result.ok) recordFailure(sandboxSpan, result.error);
      return result;
    });
    if (!outcome.ok) throw outcome.error;
    if (pauseAt !== undefined && epochsRun >= pauseAt) return pause(epochsRun);
    await infra(ctx, control, () => experiments.endTraining(fence, epochsRun));
    return finish(epochsRun);

    async function finish(epochs: number) {
      await scoreTestVolumes(ctx, control, job, { fence, spec, volumes: experiment.dataset.volumes.map(volumeRef) });
      const row = await infra(ctx, control, () => experiments.succeed(fence));
      await bestEffort(() => events.publish(experimentId, { type: 'status', status: 'succeeded' }));
      return { epochsRun: epochs, score: row.score, sweepId: experiment.sweepId };
    }
  }

  /** The rung's epoch is committed: the job ends here and the trial waits for the sweep's decision. */
  async function pause(epochsRun: number): Promise<TrainingJobResult> {
    const paused = await infra(ctx, control, () => experiments.pause(fence));
    const row = await infra(ctx, control, () => db.experiment.findUniqueOrThrow({ where: { id: experimentId }, select: { score: true } }));
    await bestEffort(() => events.publish(experimentId, { type: 'status', status: 'paused' }));
    return { epochsRun, score: row.score, paused };
  }

  /** Objects whose rows are gone (committed already): a failed delete only leaves an orphan. */
  async function deleteDropped(keys: string[]) {
    if (!keys.length) return;
    await deleteObjects(keys).catch((err) => ctx.log.warn({ err: (err as Error).message, experimentId, keys }, 'could not delete dropped checkpoint objects; they stay as orphans'));
  }
}
