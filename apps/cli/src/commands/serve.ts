import type { Command } from 'commander';
import { useStackEnv } from '@capillary/devstack';

export function register(program: Command) {
  program.command('api').description('run the API server (PORT, HOST from the environment)').action(async () => {
    useStackEnv();
    const { startApi } = await import('@capillary/api');
    await startApi();
    await runsUntilSignalled();
  });
  program.command('worker').description('run a training worker (scale by starting more)').action(async () => {
    useStackEnv();
    const { startWorker } = await import('@capillary/worker');
    await startWorker();
    await runsUntilSignalled();
  });
}

/** Servers end by their own signal handlers (process.exit); the command itself never returns. */
const runsUntilSignalled = () => new Promise<never>(() => undefined);
