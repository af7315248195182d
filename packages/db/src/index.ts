import { PrismaPg } from '@prisma/adapter-pg';
import { env } from '@capillary/contracts';
import { PrismaClient } from '../generated/client.ts';

export * from '../generated/client.ts';

let client: PrismaClient | undefined;

/** A Prisma client of its own over the `pg` driver, for a database other than the process's. */
export function createPrisma(connectionString: string, opts: { max?: number; connectionTimeoutMillis?: number } = {}): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString, max: opts.max ?? 10, connectionTimeoutMillis: opts.connectionTimeoutMillis }) });
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
