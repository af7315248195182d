// A worker frozen inside a registry transaction: on waking, Prisma's transaction timer has expired
// and the server ends its session. It must live, stop the run another worker took over, and take
// new work.
import { prisma } from '@capillary/db';
import { tinySpec, waitUntil } from '../harness.ts';
import { outage, sandboxesOf, tally, untilEpochs, withRig, type DrillContext, type DrillTally } from './kit.ts';

/** Prisma's default interactive-transaction timeout, which the registry keeps. */
const PRISMA_TRANSACTION_TIMEOUT_MS = 5_000;

/** The Postgres backend (pid) that waits on a lock the calling transaction holds. */
const BLOCKED_BACKEND = 'SELECT pid FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))';

export const frozenInTransaction = (ctx: DrillContext): Promise<DrillTally> =>
  withRig(async (api, workers) => {
    const db = prisma();
    const spec = tinySpec(ctx.dataset, { name: 'drill-frozen-tx', epochs: 6, stepsPerEpoch: 4 });
    const id = (await api.request('POST', '/experiments', spec)).body.id as string;
    const frozen = workers.start('drill-frozen-tx');
    await untilEpochs([id], 1);
    // Hold the run's row so that the worker's next fenced write waits inside its transaction, and
    // freeze the worker there past Prisma's transaction timeout (5 s). On waking, its expired timer
    // rolls back first; then the server ends the session, as its idle-in-transaction limit or an
    // administrator does, and that ROLLBACK meets a dead connection.
    let thawed = 0;
    const backend = await db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM "Experiment" WHERE id = ${id}::uuid FOR UPDATE`;
      const pid = await waitUntil('the worker to wait on the held row', async () => (await tx.$queryRawUnsafe<{ pid: number }[]>(BLOCKED_BACKEND))[0]?.pid, 60_000, 100);
      frozen.process.kill('SIGSTOP');
      ctx.log(`worker frozen inside a transaction (backend ${pid})`);
      workers.start('drill-taker-tx');
      await outage(PRISMA_TRANSACTION_TIMEOUT_MS + 2_000);
      frozen.process.kill('SIGCONT');
      thawed = Date.now();
      await outage(500);
      await tx.$queryRaw`SELECT pg_terminate_backend(${pid}::int)`;
      return pid;
    }, { timeout: 90_000 });
    await waitUntil('Postgres to end the frozen session', async () => {
      const rows = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ${backend}`;
      return Number(rows[0].n) === 0 ? true : undefined;
    }, 10_000, 100);
    const handedOver = await waitUntil('the run to move to the other worker', async () => {
      const row = await db.experiment.findUniqueOrThrow({ where: { id } });
      return row.workerId === 'drill-taker-tx' ? row.attempts : undefined;
    }, 60_000, 200);
    const violations: string[] = [];
    const stopped = await waitUntil('the thawed worker to stop its sandbox', async () => (sandboxesOf(frozen.process.pid!).length === 0 ? Date.now() : undefined), 10_000, 100).catch(() => null);
    if (stopped === null || stopped - thawed > 5_000) violations.push(`the thawed worker's sandbox ran on ${stopped === null ? 'for over 10' : Math.round((stopped - thawed) / 1000)} s`);
    const result = await tally([id], workers, 240_000);
    const attempt = await db.attempt.findFirstOrThrow({ where: { experimentId: id, number: handedOver } });
    const stray = await db.epochMetric.count({ where: { experimentId: id, attemptNumber: { lt: handedOver }, epoch: { gt: attempt.resumedFromEpoch } } });
    if (stray) violations.push(`${stray} epochs written by the frozen worker after the hand-over`);
    // The thawed worker alone now: it must take and finish new work.
    await workers.terminate(workers.byId('drill-taker-tx')!);
    const next = (await api.request('POST', '/experiments', { ...spec, name: 'drill-after-thaw', epochs: 2 })).body.id as string;
    const after = await tally([next], workers, 240_000);
    const ranOn = (await db.experiment.findUniqueOrThrow({ where: { id: next } })).workerId;
    if (ranOn !== 'drill-frozen-tx') violations.push(`the run queued after the thaw ran on ${ranOn}, not on the thawed worker`);
    return {
      experiments: 2,
      lost: result.lost + after.lost,
      duplicatedEpochs: result.duplicatedEpochs + after.duplicatedEpochs,
      stuck: result.stuck + after.stuck,
      workerCrashes: workers.crashes(),
      violations: [...violations, ...result.violations, ...after.violations],
    };
  });
