import type { Command } from 'commander';
import { apiOptions, apiRequest, withApiOptions } from '../api-client.ts';

/** `capillary projects`: the caller's projects; operators create them. */
export function register(program: Command) {
  const cmd = program.command('projects').description('list your projects, or create one (operators)');
  withApiOptions(cmd.command('list').description('list your projects and your role in each'))
    .option('--all', 'every project (operators)')
    .option('--json', 'print the raw JSON')
    .action(async (opts: { api?: string; key?: string; all?: boolean; json?: boolean }) => {
      const { items } = await apiRequest<{ items: Array<{ name: string; role: string | null }> }>(apiOptions(opts, { needsKey: true }), 'GET', `/projects${opts.all ? '?all=true' : ''}`);
      if (opts.json) return console.log(JSON.stringify(items));
      console.table(items.map((p) => ({ project: p.name, role: p.role ?? '' })));
    });
  withApiOptions(cmd.command('create').argument('<name>', 'the project name').description('create a project (operators); you become its admin'))
    .action(async (name: string, opts: { api?: string; key?: string }) => {
      const project = await apiRequest<{ id: string; name: string }>(apiOptions(opts, { needsKey: true }), 'POST', '/projects', { name });
      console.error(`created project ${project.name}; you are its admin`);
      console.log(JSON.stringify(project));
    });
}
