import type { Job } from 'bullmq';
import { predictionShardKey } from '@capillary/storage';
import { jobPayload } from './job-payload.ts';
import { runSandbox } from './sandbox-runner.ts';
import { endAttempt, infra, watchRun, type JobContext } from './job-context.ts';
import { RunStopped, type RunControl } from './run-control.ts';

/**
 * Runs one shard of a sharded prediction: predicts its plane range in the sandbox into a 16-bit
 * Zarr array under a key of this try, then commits the key through the registry under the
 * prediction's attempt. A cancelled or superseded prediction stops its shards within a run check.
 */
export async function runShardJob(job: Job, token: string | undefined, control: RunControl, ctx: JobContext) {
  const p = jobPayload('predictionShard', job);
  const { predictions } = ctx;
  const fence = { predictionId: p.predictionId, attempt: p.attempt };
  const what = `prediction ${p.predictionId} shard ${p.shard}`;
  // Every pickup (a retry or a stalled job taken again) writes under a key of its own.
  const key = predictionShardKey(p.predictionId, p.attempt, p.shard, job.attemptsStarted);
  const unwatch = watchRun(ctx, control, () => predictions.check(fence));
  try {
    const verdict = await infra(ctx, control, () => predictions.check(fence));
    if (verdict !== 'ok') throw new RunStopped(verdict);
    let bytes = 0;
    const outcome = await runSandbox(
      { type: 'predict-shard', predictionId: p.predictionId, volumeId: p.volumeId, plane: p.plane, start: p.start, end: p.end, key },
      async (m) => {
        if (m.type === 'shard-progress') await job.updateProgress({ planes: m.planes, of: p.end - p.start }).catch(() => undefined);
        else if (m.type === 'shard-stored') bytes = m.bytes;
      },
      control.signal,
      () => control.stopped(),
    );
    if (!outcome.ok) throw outcome.error;
    await infra(ctx, control, () => predictions.commitShard(fence, p.shard, key));
    ctx.log.info({ predictionId: p.predictionId, attempt: p.attempt, shard: p.shard, key, bytes }, 'shard committed');
    return { shard: p.shard, key };
  } catch (e) {
    throw await endAttempt(ctx, job, token, e, {
      what,
      // The shard's job is delayed and taken again; its prediction stays with the job that waits on it.
      handOver: async () => undefined,
      fail: async (message, final) => {
        if (final) await predictions.fail(fence, `${what}: ${message}`, true);
      },
      closeCancelled: async () => undefined,
    });
  } finally {
    unwatch();
  }
}
