import { env } from '@capillary/contracts';
import { startTelemetry, stopTelemetry } from '@capillary/telemetry';
import { prisma, disconnectPrisma } from '@capillary/db';
import { buildApp } from './app.ts';

/** Starts the API; on SIGINT/SIGTERM closes the server and its connections, then exits. */
export async function startApi() {
  const config = env();
  await startTelemetry('capillary-api');
  const app = await buildApp({ env: config, db: prisma() });
  const shutdown = async (signal: string) => {
    app.log.info({ signal }, 'shutting down');
    await app.close();
    await disconnectPrisma();
    await stopTelemetry();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  await app.listen({ host: config.HOST, port: config.PORT });
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) await startApi();
