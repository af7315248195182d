import { Option, type Command } from 'commander';
import { apiOptions, apiRequest, wholeNumber, withApiOptions } from '../api-client.ts';

interface Key {
  id: string; name: string; prefix: string; user: string; project: string | null; scope: string;
  expiresAt: string | null; createdAt: string; lastUsedAt: string | null; revokedAt: string | null;
}
type Opts = { api?: string; key?: string; project?: string; json?: boolean };

const table = (keys: Key[]) =>
  console.table(keys.map((k) => ({ id: k.id, name: k.name, prefix: k.prefix, user: k.user, project: k.project ?? '(all)', scope: k.scope, expires: k.expiresAt ?? '', 'last used': k.lastUsedAt ?? '', revoked: k.revokedAt ?? '' })));

/** Prints a new key once: the key on stdout (for a pipe), what it is on stderr. */
const printNew = (k: Key & { key: string }, what: string) => {
  console.error(`${what} key ${k.id} "${k.name}" (scope ${k.scope}${k.project ? `, project ${k.project}` : ''}${k.expiresAt ? `, expires ${k.expiresAt}` : ''}); store it now, it is not shown again`);
  console.log(k.key);
};

/** `capillary keys`: your own API keys through the API; with --project, a project admin's view of the project's keys. */
export function register(program: Command) {
  const cmd = program.command('keys').description('create, list, revoke or rotate your API keys (with --project: the keys of a project you administer)');
  withApiOptions(cmd.command('create').description('create an API key of your own; it is printed once'))
    .requiredOption('--name <name>', 'who or what the key is for')
    .option('--project <name>', 'limit the key to this project of yours')
    .addOption(new Option('--scope <scope>', "read: GET routes only (default: the calling key's scope)").choices(['read', 'write']))
    .addOption(new Option('--expires-in-days <days>', 'the key stops working after this many days').argParser(wholeNumber(1, 3650)).conflicts('expiresAt'))
    .option('--expires-at <time>', 'the key stops working at this ISO 8601 time')
    .action(async (opts: Opts & { name: string; scope?: string; expiresInDays?: number; expiresAt?: string }) => {
      if (opts.expiresAt !== undefined && Number.isNaN(Date.parse(opts.expiresAt))) throw new Error(`--expires-at: "${opts.expiresAt}" is not an ISO 8601 time`);
      const body = { name: opts.name, project: opts.project, scope: opts.scope, expiresInDays: opts.expiresInDays, expiresAt: opts.expiresAt && new Date(opts.expiresAt).toISOString() };
      printNew(await apiRequest(apiOptions({ api: opts.api, key: opts.key }, { needsKey: true }), 'POST', '/keys', body), 'created');
    });
  withApiOptions(cmd.command('list').description('list your keys (prefixes only); with --project, every key acting in that project'))
    .option('--project <name>', 'a project you administer')
    .option('--json', 'print the raw JSON')
    .action(async (opts: Opts) => {
      const path = opts.project ? `/projects/${encodeURIComponent(opts.project)}/keys` : '/keys';
      const { items } = await apiRequest<{ items: Key[] }>(apiOptions({ api: opts.api, key: opts.key }, { needsKey: true }), 'GET', path);
      if (opts.json) return console.log(JSON.stringify(items));
      table(items);
    });
  withApiOptions(cmd.command('revoke').argument('<id>', 'the key id (see `keys list`)').description('revoke one of your keys; with --project, a key acting in that project'))
    .option('--project <name>', 'a project you administer')
    .action(async (id: string, opts: Opts) => {
      const path = opts.project ? `/projects/${encodeURIComponent(opts.project)}/keys/${encodeURIComponent(id)}` : `/keys/${encodeURIComponent(id)}`;
      const k = await apiRequest<Key>(apiOptions({ api: opts.api, key: opts.key }, { needsKey: true }), 'DELETE', path);
      console.error(`revoked key ${k.id} "${k.name}" of ${k.user}`);
    });
  withApiOptions(cmd.command('rotate').argument('<id>', 'the key id (see `keys list`)').description('revoke one of your keys and print its replacement (same name, project, scope and expiry)'))
    .action(async (id: string, opts: Opts) => {
      printNew(await apiRequest(apiOptions(opts, { needsKey: true }), 'POST', `/keys/${encodeURIComponent(id)}/rotate`), `revoked ${id}; its replacement is`);
    });
}
