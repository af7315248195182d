import type { Command } from 'commander';
import { apiOptions, apiRequest } from '../api-client.ts';

/** `capillary close`: ends a competition round, revealing the private-test scores. */
export function register(program: Command) {
  program
    .command('close')
    .description('close a sweep or a lone experiment: reveals its private-test scores')
    .option('--sweep <id>', 'the sweep to close')
    .option('--experiment <id>', 'the lone experiment to close')
    .option('--api <url>', 'API base URL (default $CAPILLARY_API or http://127.0.0.1:3000)')
    .option('--key <key>', 'API key (default $CAPILLARY_API_KEY)')
    .action(async (opts: { sweep?: string; experiment?: string; api?: string; key?: string }) => {
      if (!!opts.sweep === !!opts.experiment) throw new Error('close needs exactly one of --sweep <id> and --experiment <id>');
      const path = opts.sweep ? `/sweeps/${encodeURIComponent(opts.sweep)}/close` : `/experiments/${encodeURIComponent(opts.experiment!)}/close`;
      const res = await apiRequest<{ id: string; closedAt: string }>(apiOptions(opts), 'POST', path);
      console.log(JSON.stringify({ id: res.id, closedAt: res.closedAt }));
    });
}
