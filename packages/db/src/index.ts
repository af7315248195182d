import { PrismaPg } from '@prisma/adapter-pg';
import { env } from '@capillary/contracts';
import { PrismaClient } from '../generated/client.ts';
import { EndedSessionSafeAdapter } from './ended-sessions.ts';

export * from '../generated/client.ts';

let client: PrismaClient | undefined;

/**
 * A process frozen (SIGSTOP, a long GC pause, a lost VM) inside a transaction must not hold its
 * row locks for ever: the worker that takes its run over would wait on them. Postgres ends such
 * a session after this long idle in a transaction, and a lock wait gives up after `LOCK_TIMEOUT_MS`
 * (both read as outages by `isInfrastructureError`, so the waiter retries).
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
export const LOCK_TIMEOUT_MS = 20_000;

/** A Prisma client of its own over the `pg` driver, for a database other than the process's. */
export function createPrisma(connectionString: string, opts: { max?: number; connectionTimeoutMillis?: number; idleInTransactionTimeoutMs?: number } = {}): PrismaClient {
  return new PrismaClient({
    adapter: new EndedSessionSafeAdapter(new PrismaPg({
      connectionString,
      max: opts.max ?? 10,
      connectionTimeoutMillis: opts.connectionTimeoutMillis,
      idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? IDLE_IN_TRANSACTION_TIMEOUT_MS,
      lock_timeout: LOCK_TIMEOUT_MS,
    })),
  });
}

/** The process's Prisma client over the `pg` driver (no native query engine needed). */
export function prisma(): PrismaClient {
  client ??= createPrisma(env().DATABASE_URL);
  return client;
}

export async function disconnectPrisma(): Promise<void> {
  if (client) await client.$disconnect();
  client = undefined;
}
