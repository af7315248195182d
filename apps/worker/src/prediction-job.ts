import { WaitingChildrenError, type Job } from 'bullmq';
import type { CommittedShard, PredictionOutput } from '@capillary/contracts';
import type { JobFlows } from '@capillary/queue';
import type { PredictionFence } from '@capillary/registry';
import { predictionAttemptPrefix, predictionShardsPrefix, deletePrefix } from '@capillary/storage';
import { jobPayload } from './job-payload.ts';
import { runSandbox } from './sandbox-runner.ts';
import { bestEffort, endAttempt, infra, pickupDelay, watchRun, type JobContext } from './job-context.ts';
import { planPrediction, type PlannedShard } from './prediction-plan.ts';
import type { RunControl } from './run-control.ts';

/** What a prediction job needs beyond a training job's context: the flow producer for its shards. */
export interface PredictionJobContext extends JobContext {
  flows: JobFlows;
  config: JobContext['config'] & { PREDICT_SHARD_VOXELS: number; PREDICT_MAX_SHARDS_IN_FLIGHT: number };
}

/**
 * Runs a prediction job: opens an attempt on the prediction row; a prediction too big for one
 * shard fans its shards out as children of this job (a BullMQ flow, at most
 * PREDICT_MAX_SHARDS_IN_FLIGHT at a time) and waits for them; then predicts what is left and merges
 * the shards in the sandbox (masks and CSV under keys of this attempt), and records the result
 * through the registry. Hand-over, cancel and fencing work as for training.
 */
export async function runPredictionJob(job: Job, token: string | undefined, control: RunControl, ctx: PredictionJobContext) {
  const payload = jobPayload('prediction', job);
  const { predictionId } = payload;
  const { predictions, workerId } = ctx;
  await pickupDelay(ctx, control.signal);
  // Back from waiting on its shards: the attempt that planned them goes on.
  const fence: PredictionFence = payload.attempt
    ? { predictionId, attempt: payload.attempt }
    : (await infra(ctx, control, () => predictions.open(predictionId, workerId))).fence;
  const unwatch = watchRun(ctx, control, () => predictions.check(fence));
  try {
    if (payload.attempt) await infra(ctx, control, () => predictions.resume(fence, workerId));
    const plan = await infra(ctx, control, () => planPrediction(ctx.db, predictionId, ctx.config.PREDICT_SHARD_VOXELS));
    const committed = plan.length ? await infra(ctx, control, () => predictions.committedShards(fence)) : {};
    const pending = plan.filter((s) => !committed[s.id]);
    if (pending.length) {
      if (!payload.attempt) await infra(ctx, control, () => predictions.planShards(fence, plan.length));
      await fanOut(job, ctx, fence, pending);
      // Later pickups of this job resume the attempt; the catalogue checks the payload again then.
      if (!payload.attempt) await job.updateData({ ...payload, attempt: fence.attempt });
      ctx.log.info({ predictionId, attempt: fence.attempt, shards: plan.length, pending: pending.length }, 'prediction waits for its shards');
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
      // Every child had already finished: go round again to see what they committed.
      return await runPredictionJob(job, token, control, ctx);
    }
    let result: { outputs: PredictionOutput[]; csvKey: string } | undefined;
    const shards: CommittedShard[] = plan.map((s) => ({ volumeId: s.volumeId, plane: s.plane, start: s.start, end: s.end, key: committed[s.id] }));
    const outcome = await runSandbox(
      { type: 'predict', predictionId, attempt: fence.attempt, shards },
      async (m) => {
        if (m.type === 'predict-progress') await bestEffort(() => job.updateProgress(m));
        else if (m.type === 'predicted') result = { outputs: m.outputs, csvKey: m.csvKey };
      },
      control.signal,
      () => control.stopped(),
    );
    if (!outcome.ok) throw outcome.error;
    if (!result) throw new Error(`prediction ${predictionId}: the sandbox finished without a result`);
    const { outputs, csvKey } = result;
    await infra(ctx, control, () => predictions.succeed(fence, outputs, csvKey));
    // The shards' arrays were only the way to the mask: the merge has read them for good.
    if (plan.length) await deletePrefix(predictionShardsPrefix(predictionId, fence.attempt)).catch((err) => ctx.log.warn({ predictionId, err: (err as Error).message }, 'could not remove the shards; they stay under the attempt'));
    return { predictionId };
  } catch (e) {
    if (e instanceof WaitingChildrenError) throw e;
    throw await endAttempt(ctx, job, token, e, {
      what: `prediction ${predictionId}`,
      handOver: () => predictions.handOver(fence),
      fail: (m, final) => predictions.fail(fence, m, final),
      // Nothing of a cancelled attempt is kept: partial masks, CSV and shards.
      closeCancelled: async () => void (await deletePrefix(predictionAttemptPrefix(predictionId, fence.attempt))),
    });
  } finally {
    unwatch();
  }
}

/** Job id of a shard: one per prediction attempt and shard, so adding it again changes nothing. */
export const shardJobId = (predictionId: string, attempt: number, shard: string) => `${predictionId}_a${attempt}_s${shard}`;

/** Queues the next shards as children of the prediction's job, at its priority, up to the cap. */
async function fanOut(job: Job, ctx: PredictionJobContext, fence: PredictionFence, pending: PlannedShard[]) {
  const wave = pending.slice(0, ctx.config.PREDICT_MAX_SHARDS_IN_FLIGHT);
  await ctx.flows.addChildren(
    'predictionShard',
    { id: job.id!, queue: job.queueQualifiedName },
    wave.map((s) => ({
      jobId: shardJobId(fence.predictionId, fence.attempt, s.id),
      priority: job.opts.priority,
      payload: { predictionId: fence.predictionId, attempt: fence.attempt, shard: s.id, volumeId: s.volumeId, plane: s.plane, start: s.start, end: s.end },
    })),
  );
}
