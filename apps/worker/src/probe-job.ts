import type { Job } from 'bullmq';
import { headBucket } from '@capillary/storage';
import { jobPayload } from './job-payload.ts';
import { infra, type JobContext } from './job-context.ts';
import type { RunControl } from './run-control.ts';

/** When the probe's worker took it and when its waits were over (epoch ms, this host's clock), and how long each wait took. */
export interface ProbeResult {
  startedAt: number;
  finishedAt: number;
  s3Ms: number;
  postgresMs: number;
}

/**
 * A probe: waits on S3 (HEAD of the bucket) and on Postgres (`pg_sleep(holdMs)`) at once, like a
 * run waiting on its data and its database, and uses no CPU to speak of. It writes nothing, so
 * it needs no attempt or fence; outages are waited out like any run's.
 */
export async function runProbeJob(job: Job, _token: string | undefined, control: RunControl, ctx: JobContext): Promise<ProbeResult> {
  const startedAt = Date.now();
  const { holdMs } = jobPayload('probe', job);
  const timed = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await infra(ctx, control, fn);
    return Math.round((performance.now() - t0) * 10) / 10;
  };
  const [s3Ms, postgresMs] = await Promise.all([
    timed(() => headBucket()),
    timed(() => ctx.db.$queryRaw`SELECT 1 AS slept FROM pg_sleep(${holdMs / 1000}::float8)`),
  ]);
  return { startedAt, finishedAt: Date.now(), s3Ms, postgresMs };
}
