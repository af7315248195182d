import type { Command } from 'commander';
import { useStackEnv } from '../stack/load-env.ts';

export function register(program: Command) {
  const cmd = program.command('api-key').description('create, list or revoke API keys (mutating API routes need one)');
  cmd
    .command('create')
    .requiredOption('--name <name>', 'who or what the key is for')
    .description('create a key; it is printed once and only its hash is stored')
    .action(async (opts: { name: string }) => {
      useStackEnv();
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      const { ApiKeyService } = await import('@capillary/api/services/api-keys');
      const { key, id } = await new ApiKeyService(prisma()).create(opts.name);
      console.error(`created key ${id} for "${opts.name}"; store it now, it is not shown again`);
      console.log(key);
      await disconnectPrisma();
    });
  cmd.command('list').description('list keys (prefix only)').action(async () => {
    useStackEnv();
    const { prisma, disconnectPrisma } = await import('@capillary/db');
    const { ApiKeyService } = await import('@capillary/api/services/api-keys');
    console.table(await new ApiKeyService(prisma()).list());
    await disconnectPrisma();
  });
  cmd.command('revoke').argument('<id>').description('revoke a key by id').action(async (id: string) => {
    useStackEnv();
    const { prisma, disconnectPrisma } = await import('@capillary/db');
    const { ApiKeyService } = await import('@capillary/api/services/api-keys');
    await new ApiKeyService(prisma()).revoke(id);
    console.error(`revoked ${id}`);
    await disconnectPrisma();
  });
}
