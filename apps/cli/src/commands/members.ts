import { Option, type Command } from 'commander';
import { apiOptions, apiRequest, withApiOptions } from '../api-client.ts';

interface Member { user: string; role: string; disabled: boolean; since: string }
type Opts = { api?: string; key?: string; project: string; json?: boolean };

const membersOf = (project: string, user?: string) => `/projects/${encodeURIComponent(project)}/members${user === undefined ? '' : `/${encodeURIComponent(user)}`}`;

/** `capillary members`: a project's members and roles, as its admins manage them. */
export function register(program: Command) {
  const cmd = program.command('members').description("list, add, change or remove a project's members (the project's admins)");
  const projectOption = () => new Option('--project <name>', 'the project').makeOptionMandatory();
  withApiOptions(cmd.command('list').description("list the project's members and their roles"))
    .addOption(projectOption())
    .option('--json', 'print the raw JSON')
    .action(async (opts: Opts) => {
      const { items } = await apiRequest<{ items: Member[] }>(apiOptions(opts, { needsKey: true }), 'GET', membersOf(opts.project));
      if (opts.json) return console.log(JSON.stringify(items));
      console.table(items.map((m) => ({ user: m.user, role: m.role, disabled: m.disabled, since: m.since })));
    });
  withApiOptions(cmd.command('set').argument('<user>', 'the user name').description('add a user to the project, or change their role'))
    .addOption(projectOption())
    .addOption(new Option('--role <role>', 'viewer reads; member creates runs; admin manages the project').choices(['viewer', 'member', 'admin']).makeOptionMandatory())
    .action(async (user: string, opts: Opts & { role: string }) => {
      const m = await apiRequest<{ user: string; role: string }>(apiOptions(opts, { needsKey: true }), 'PUT', membersOf(opts.project, user), { role: opts.role });
      console.error(`${m.user} is ${m.role} of ${opts.project}`);
    });
  withApiOptions(cmd.command('remove').argument('<user>', 'the user name').description('remove a user from the project'))
    .addOption(projectOption())
    .action(async (user: string, opts: Opts) => {
      await apiRequest(apiOptions(opts, { needsKey: true }), 'DELETE', membersOf(opts.project, user));
      console.error(`removed ${user} from ${opts.project}`);
    });
}
