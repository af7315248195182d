// A process frozen inside a transaction (SIGSTOP, a long GC pause, a starved container) finds on
// waking that Postgres ended its session (idle_in_transaction_session_timeout) and that Prisma's
// own transaction timer has expired. Neither may crash it: the transaction fails as an outage, no
// rejection goes unhandled, and the pool is whole again for the next query.
import { afterAll, expect, it } from 'vitest';
import { isInfrastructureError } from '@capillary/contracts';
import { waitUntil } from '../../../test/harness.ts';
import { createPrisma } from './index.ts';

const db = createPrisma(process.env.DATABASE_URL!, { max: 2, idleInTransactionTimeoutMs: 500, connectionTimeoutMillis: 5_000 });
afterAll(() => db.$disconnect());

/** Blocks this thread the way SIGSTOP freezes a process: no timer, no socket is serviced. */
const freeze = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

it('a transaction frozen past the session limit and its own timeout fails as an outage, and the pool recovers', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    // Three rounds with a pool of two: a connection the freeze killed and never gave back would leave none.
    for (let round = 0; round < 3; round++) {
      const failed = await db
        .$transaction(async (tx) => {
          await tx.$queryRaw`SELECT 1`;
          freeze(1_500);
          // Let Prisma's expired timer (timeout 1 s) fire before the next statement.
          await new Promise((r) => setTimeout(r, 50));
          await tx.$queryRaw`SELECT 2`;
        }, { timeout: 1_000 })
        .then(() => null, (e: unknown) => e);
      expect(failed).toBeInstanceOf(Error);
      expect(isInfrastructureError(failed), String(failed)).toBe(true);
    }
    // The session and Prisma's timer both ended the transaction; the pool serves new work. A
    // connection the server closed during the last freeze may still be handed out, once per pooled
    // connection (seen on Node 24), and fails as an outage too.
    let refused = 0;
    const answer = await waitUntil('the pool to serve a query', async () => {
      try {
        return await db.$queryRaw<{ n: number }[]>`SELECT 3 AS n`;
      } catch (e) {
        refused++;
        expect(isInfrastructureError(e), String(e)).toBe(true);
        return undefined;
      }
    }, 2_000, 20);
    expect(answer).toEqual([{ n: 3 }]);
    expect(refused).toBeLessThanOrEqual(2);
    // One turn of the event loop: a rejection left unhandled is reported after the microtasks drain.
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

it('a commit on a session the server ended fails as an outage and gives its connection back', async () => {
  for (let round = 0; round < 3; round++) {
    const failed = await db
      .$transaction(async (tx) => {
        const [{ pid }] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
        // Idle in the transaction past the session limit, with the event loop running, until the
        // server has closed the session: the commit that follows meets a dead connection.
        await waitUntil('the server to end the idle session', async () => ((await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ${pid}`)[0].n === 0n || undefined), 4_000, 50);
      }, { timeout: 5_000 })
      .then(() => null, (e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(isInfrastructureError(failed), String(failed)).toBe(true);
  }
  await expect(db.$queryRaw<{ n: number }[]>`SELECT 4 AS n`).resolves.toEqual([{ n: 4 }]);
});
