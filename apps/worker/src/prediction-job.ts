import { UnrecoverableError, type Job } from 'bullmq';
import type { PrismaClient } from '@capillary/db';
import { jobPayload } from './job-payload.ts';
import { runSandbox } from './sandbox-runner.ts';

/** Runs a prediction job in the sandbox: every volume of a dataset with the best checkpoint. */
export async function runPredictionJob(job: Job, signal: AbortSignal | undefined, db: PrismaClient) {
  const payload = jobPayload('prediction', job);
  const row = await db.prediction.findUnique({ where: { id: payload.predictionId } });
  if (!row) throw new UnrecoverableError(`prediction ${payload.predictionId} does not exist`);
  const outcome = await runSandbox(
    { type: 'predict', predictionId: payload.predictionId },
    async (m) => {
      if (m.type === 'predict-progress') await job.updateProgress(m);
    },
    signal,
    () => new UnrecoverableError(`prediction ${payload.predictionId} was cancelled`),
  );
  if (!outcome.ok) {
    await db.prediction.update({ where: { id: payload.predictionId }, data: { status: 'failed', errorMessage: outcome.error.message.slice(0, 4000), finishedAt: new Date() } });
    throw outcome.error;
  }
  return { predictionId: payload.predictionId };
}
