import type { Command } from 'commander';
import { apiOptions, apiRequest, wholeNumber, withApiOptions } from '../api-client.ts';

interface Entry {
  id: string; at: string; user: string | null; via: string; method: string; route: string; action: string;
  resourceId: string | null; project: string | null; statusCode: number;
}

/** `capillary audit`: the audit log of a project (its admins) or of everything (operators, --all). */
export function register(program: Command) {
  withApiOptions(program.command('audit').description("print the audit log, newest first: every mutating request (a project's admins; --all: operators)"))
    .option('--project <name>', 'the project (default: your key\'s, or your only one, or `default`)')
    .option('--all', 'every project, and the entries of none (operators)')
    .option('--limit <n>', 'at most this many entries', wholeNumber(1, 500), 50)
    .option('--before <id>', 'only entries older than this id (the next page)')
    .option('--action <action>', 'only this policy action, e.g. experiment.cancel')
    .option('--user <name>', "only this user's requests")
    .option('--json', 'print the raw JSON')
    .action(async (opts: { api?: string; key?: string; project?: string; all?: boolean; limit: number; before?: string; action?: string; user?: string; json?: boolean }) => {
      if (opts.before !== undefined && !/^\d{1,18}$/.test(opts.before)) throw new Error(`--before: "${opts.before}" is not an entry id`);
      const q = new URLSearchParams({ limit: String(opts.limit) });
      for (const k of ['before', 'action', 'user'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
      // --all with --project filters the operator's view; without --all, the project is the header's.
      if (opts.all && opts.project) q.set('project', opts.project);
      const o = apiOptions({ api: opts.api, key: opts.key, project: opts.all ? undefined : opts.project }, { needsKey: true });
      const page = await apiRequest<{ items: Entry[]; nextBefore: string | null }>(o, 'GET', `${opts.all ? '/audit/all' : '/audit'}?${q}`);
      if (opts.json) return console.log(JSON.stringify(page));
      console.table(page.items.map((e) => ({ id: e.id, at: e.at, user: e.user ?? '', via: e.via, request: `${e.method} ${e.route}`, action: e.action, resource: e.resourceId ?? '', project: e.project ?? '', status: e.statusCode })));
      if (page.nextBefore) console.error(`older entries: --before ${page.nextBefore}`);
    });
}
