import type { Command } from 'commander';
import { apiOptions, apiRequest, withApiOptions } from '../api-client.ts';

interface Whoami {
  user: { id: string; name: string };
  operator: boolean;
  via: 'key' | 'session';
  key: { id: string; name: string; scope: 'read' | 'write'; project: string | null; expiresAt: string | null } | null;
  projects: Array<{ name: string; role: string }>;
}

/** `capillary whoami`: the user and projects of the API key in use. */
export function register(program: Command) {
  withApiOptions(program.command('whoami').description('print who the API key acts as: user, key scope and limits, projects and roles'))
    .option('--json', 'print the raw JSON')
    .action(async (opts: { api?: string; key?: string; json?: boolean }) => {
      const me = await apiRequest<Whoami>(apiOptions(opts, { needsKey: true }), 'GET', '/whoami');
      if (opts.json) return console.log(JSON.stringify(me));
      console.log(`user      ${me.user.name}${me.operator ? ' (operator)' : ''}`);
      if (me.key) {
        const limits = [`scope ${me.key.scope}`, me.key.project ? `project ${me.key.project} only` : 'every project of its user', me.key.expiresAt ? `expires ${me.key.expiresAt}` : 'no expiry'];
        console.log(`key       ${me.key.name} (${me.key.id}): ${limits.join(', ')}`);
      }
      console.log(`projects  ${me.projects.length ? me.projects.map((p) => `${p.name} (${p.role})`).join(', ') : 'none yet: ask a project admin to add you'}`);
    });
}
