import { InvalidArgumentError, type Command } from 'commander';
import { apiOptions, apiRequest, withApiOptions } from '../api-client.ts';

const GROUPS = ['user', 'sweep', 'dataset'] as const;

interface Sums { workerSeconds: number; attempts: number; handOvers: number; running: number; runs: number }
interface Usage {
  by: string;
  groups: (Sums & { id: string | null; name: string | null; backends: { backend: string | null; workerSeconds: number; attempts: number }[] })[];
  total: Sums;
}

const oneOfGroups = (value: string) => {
  if (!(GROUPS as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${GROUPS.join(', ')}`);
  return value;
};
const hours = (s: number) => (s / 3600).toFixed(3);

/** `capillary usage`: a project's worker-seconds by user, sweep or dataset (GET /usage). */
export function register(program: Command) {
  withApiOptions(program.command('usage').description("print the project's worker time by user, sweep or dataset, every attempt counted (hand-overs and re-runs too)"))
    .requiredOption('--by <group>', `what to sum by: ${GROUPS.join(', ')}`, oneOfGroups)
    .option('--project <name>', 'the project (default: your key\'s, or your only one, or `default`)')
    .option('--from <time>', 'only attempts started at or after this ISO date-time')
    .option('--to <time>', 'only attempts started before this ISO date-time')
    .option('--json', 'print the raw JSON')
    .action(async (opts: { api?: string; key?: string; project?: string; by: string; from?: string; to?: string; json?: boolean }) => {
      const q = new URLSearchParams({ by: opts.by });
      for (const k of ['from', 'to'] as const) if (opts[k] !== undefined) q.set(k, opts[k]);
      const o = apiOptions(opts, { needsKey: true });
      const usage = await apiRequest<Usage>(o, 'GET', `/usage?${q}`);
      if (opts.json) return console.log(JSON.stringify(usage));
      // A run of no sweep, or made before users existed, has no group name: say which.
      const unnamed = opts.by === 'sweep' ? '(no sweep)' : '(none)';
      console.table(usage.groups.map((g) => ({
        [opts.by]: g.name ?? g.id ?? unnamed,
        hours: hours(g.workerSeconds),
        attempts: g.attempts,
        handOvers: g.handOvers,
        running: g.running,
        runs: g.runs,
        backends: g.backends.map((b) => `${b.backend ?? 'unknown'} ${hours(b.workerSeconds)} h`).join(', '),
      })));
      console.log(`total: ${hours(usage.total.workerSeconds)} worker-hours, ${usage.total.attempts} attempts (${usage.total.handOvers} handed over, ${usage.total.running} running) of ${usage.total.runs} runs`);
    });
}
