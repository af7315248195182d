import type { Command } from 'commander';
import { useStackEnv } from '@capillary/devstack';

/**
 * `capillary users create`: on the server, straight in the database, as the first operator is
 * made; once there is one, operators also use the API (`POST /users`).
 */
export function register(program: Command) {
  const cmd = program.command('users').description('on the server: create users in the database (operators can also use the API)');
  cmd
    .command('create')
    .argument('<name>', 'the user name (letters, digits, . _ -)')
    .option('--operator', 'may create users and projects')
    .description('create a user, with no project yet; then `capillary api-key create --name N --user <name>`')
    .action(async (name: string, opts: { operator?: boolean }) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) throw new Error(`<name>: "${name}" must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit`);
      useStackEnv();
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      const { AdminService } = await import('@capillary/api');
      try {
        const user = await new AdminService(prisma()).createUser(name, !!opts.operator).catch((e: Error & { statusCode?: number }) => {
          throw e.statusCode === 409 ? new Error(`<name>: ${e.message.replace(/^name: /, '')}`) : e;
        });
        console.error(`created user ${user.name}${user.operator ? ' (operator)' : ''}`);
        console.log(JSON.stringify({ id: user.id, name: user.name, operator: user.operator }));
      } finally {
        await disconnectPrisma();
      }
    });
}
