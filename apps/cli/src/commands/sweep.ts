import type { Command } from 'commander';
import { apiOptions, apiRequest } from '../api-client.ts';

interface SweepBody { id: string; strategy: string; experiments: { id: string; status: string; rung: number | null }[] }

/** `sweep rerun <id>` and `sweep extend <id> --trials N`: the API's re-run and extend, from the shell. */
export function register(program: Command) {
  const sweep = program.command('sweep').description('re-run or extend a sweep');
  sweep
    .command('rerun <id>')
    .description("re-queue the sweep's failed and cancelled runs; each resumes from its last checkpoint")
    .option('--api <url>', 'API base URL (default $CAPILLARY_API or http://127.0.0.1:3000)')
    .option('--key <key>', 'API key (default $CAPILLARY_API_KEY)')
    .action(async (id: string, opts) => {
      const res = await apiRequest<{ requeued: string[]; sweep: SweepBody }>(apiOptions(opts), 'POST', `/sweeps/${encodeURIComponent(id)}/rerun`);
      console.log(JSON.stringify({ sweepId: res.sweep.id, requeued: res.requeued }));
    });
  sweep
    .command('extend <id>')
    .description('add trials to a random or ASHA sweep, sampled from its space after the ones it has')
    .requiredOption('--trials <n>', 'trials to add', Number)
    .option('--api <url>', 'API base URL (default $CAPILLARY_API or http://127.0.0.1:3000)')
    .option('--key <key>', 'API key (default $CAPILLARY_API_KEY)')
    .action(async (id: string, opts) => {
      const res = await apiRequest<SweepBody>(apiOptions(opts), 'POST', `/sweeps/${encodeURIComponent(id)}/extend`, { trials: opts.trials });
      console.log(JSON.stringify({ sweepId: res.id, experiments: res.experiments.map((e) => e.id) }));
    });
}
