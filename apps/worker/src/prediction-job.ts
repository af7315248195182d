import type { Job } from 'bullmq';
import type { PredictionOutput } from '@capillary/contracts';
import { jobPayload } from './job-payload.ts';
import { runSandbox } from './sandbox-runner.ts';
import { bestEffort, endAttempt, infra, pickupDelay, watchRun, type JobContext } from './job-context.ts';
import type { RunControl } from './run-control.ts';

/**
 * Runs a prediction job: opens an attempt on the prediction row, predicts every volume of the
 * dataset in the sandbox (masks and CSV under keys of this attempt), and records the result
 * through the registry. Hand-over, cancel and fencing work as for training.
 */
export async function runPredictionJob(job: Job, token: string | undefined, control: RunControl, ctx: JobContext) {
  const { predictionId } = jobPayload('prediction', job);
  const { predictions, workerId } = ctx;
  await pickupDelay(ctx, control.signal);
  const { fence } = await infra(ctx, control, () => predictions.open(predictionId, workerId));
  const unwatch = watchRun(ctx, control, () => predictions.check(fence));
  try {
    let result: { outputs: PredictionOutput[]; csvKey: string } | undefined;
    const outcome = await runSandbox(
      { type: 'predict', predictionId, attempt: fence.attempt },
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
    return { predictionId };
  } catch (e) {
    throw await endAttempt(ctx, job, token, e, {
      what: `prediction ${predictionId}`,
      handOver: () => predictions.handOver(fence),
      fail: (m, final) => predictions.fail(fence, m, final),
      closeCancelled: async () => undefined,
    });
  } finally {
    unwatch();
  }
}
