import { PrismaPg } from '@prisma/adapter-pg';
import { env } from '@capillary/contracts';
import { PrismaClient } from '../generated/client.ts';

export * from '../generated/client.ts';

let client: PrismaClient | undefined;

/** The process's Prisma client over the `pg` driver (no native query engine needed). */
export function prisma(): PrismaClient {
  if (!client) {
    const adapter = new PrismaPg({ connectionString: env().DATABASE_URL, max: 10 });
    client = new PrismaClient({ adapter });
  }
  return client;
}

export async function disconnectPrisma(): Promise<void> {
  if (client) await client.$disconnect();
  client = undefined;
}
