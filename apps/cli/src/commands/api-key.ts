import { Option, type Command } from 'commander';
import { wholeNumber } from '../api-client.ts';
import { useStackEnv } from '@capillary/devstack';

const DAY_MS = 24 * 60 * 60 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `capillary api-key`: keys made on the server, straight in the database, for the first admin and
 * for operators (signed-in users make their own with `capillary keys`).
 */
export function register(program: Command) {
  const cmd = program.command('api-key').description('on the server: create, list or revoke API keys in the database (users manage their own with `capillary keys`)');
  cmd
    .command('create')
    .requiredOption('--name <name>', 'who or what the key is for')
    .option('--user <name>', "the key's user (see `users create`); without it, a new user of the key's name, admin of the `default` project")
    .option('--project <name>', 'limit the key to this project of its user')
    .addOption(new Option('--scope <scope>', 'read: GET routes only').choices(['read', 'write']).default('write'))
    .option('--expires-in-days <days>', 'the key stops working after this many days', wholeNumber(1, 3650))
    .description('create a key; it is printed once and only its hash is stored')
    .action(async (opts: { name: string; user?: string; project?: string; scope: 'read' | 'write'; expiresInDays?: number }) => {
      useStackEnv();
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      const { ApiKeyService, DEFAULT_PROJECT } = await import('@capillary/api');
      const db = prisma();
      try {
        let userId: string | undefined;
        if (opts.user !== undefined) {
          const user = await db.user.findUnique({ where: { name: opts.user }, select: { id: true } });
          if (!user) throw new Error(`--user: no user named "${opts.user}"; create one with \`capillary users create ${opts.user}\``);
          userId = user.id;
        }
        let projectId: string | null = null;
        if (opts.project !== undefined) {
          const project = await db.project.findUnique({ where: { name: opts.project }, select: { id: true } });
          if (!project) throw new Error(`--project: no project named "${opts.project}"`);
          if (userId) {
            const member = await db.membership.findUnique({ where: { userId_projectId: { userId, projectId: project.id } } });
            if (!member) throw new Error(`--project: user "${opts.user}" is not a member of project "${opts.project}"`);
          } else if (opts.project !== DEFAULT_PROJECT) {
            throw new Error(`--project: a key made without --user is of a new admin of "${DEFAULT_PROJECT}" only; name the user with --user`);
          }
          projectId = project.id;
        }
        const expiresAt = opts.expiresInDays === undefined ? null : new Date(Date.now() + opts.expiresInDays * DAY_MS);
        const { key, id, userId: owner } = await new ApiKeyService(db).create(opts.name, { userId, projectId, scope: opts.scope, expiresAt });
        const { name: userName } = await db.user.findUniqueOrThrow({ where: { id: owner }, select: { name: true } });
        console.error(`created key ${id} "${opts.name}" of user ${userName} (scope ${opts.scope}${opts.project ? `, project ${opts.project}` : ''}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ''}); store it now, it is not shown again`);
        console.log(key);
      } finally {
        await disconnectPrisma();
      }
    });
  cmd
    .command('list')
    .option('--user <name>', "only this user's keys")
    .option('--json', 'print JSON')
    .description('list keys (prefix only, never the key)')
    .action(async (opts: { user?: string; json?: boolean }) => {
      useStackEnv();
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      try {
        const rows = await prisma().apiKey.findMany({
          where: opts.user === undefined ? {} : { user: { name: opts.user } },
          orderBy: { createdAt: 'asc' },
          select: { id: true, name: true, prefix: true, scope: true, expiresAt: true, createdAt: true, lastUsedAt: true, revokedAt: true, user: { select: { name: true } }, project: { select: { name: true } } },
        });
        const view = rows.map(({ user, project, ...k }) => ({ ...k, user: user.name, project: project?.name ?? null }));
        if (opts.json) console.log(JSON.stringify(view));
        else console.table(view.map((k) => ({ ...k, expiresAt: k.expiresAt?.toISOString() ?? '', lastUsedAt: k.lastUsedAt?.toISOString() ?? '', revokedAt: k.revokedAt?.toISOString() ?? '', createdAt: k.createdAt.toISOString() })));
      } finally {
        await disconnectPrisma();
      }
    });
  cmd.command('revoke').argument('<id>').description('revoke a key by id').action(async (id: string) => {
    if (!UUID.test(id)) throw new Error(`<id>: "${id}" is not a key id (see \`capillary api-key list\`)`);
    useStackEnv();
    const { prisma, disconnectPrisma } = await import('@capillary/db');
    try {
      const { count } = await prisma().apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
      if (!count && !(await prisma().apiKey.findUnique({ where: { id } }))) throw new Error(`<id>: no key ${id}`);
      console.error(count ? `revoked ${id}` : `${id} was already revoked`);
    } finally {
      await disconnectPrisma();
    }
  });
}
