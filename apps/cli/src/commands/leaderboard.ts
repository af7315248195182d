import type { Command } from 'commander';
import { apiOptions, apiRequest } from '../api-client.ts';

interface Row { rank: number | null; experimentId: string; model: string; encoder: string; epochs: number; lr: number; augmentationP: number; score: number | null; status: string; backend: string | null }

export function register(program: Command) {
  program
    .command('leaderboard')
    .description('print the leaderboard (best validation surface Dice per experiment)')
    .option('--sweep <id>', 'only this sweep')
    .option('--json', 'print the raw JSON')
    .option('--api <url>', 'API base URL')
    .action(async (opts) => {
      const q = opts.sweep ? `?sweepId=${encodeURIComponent(opts.sweep)}` : '';
      const { rows } = await apiRequest<{ rows: Row[] }>(apiOptions(opts), 'GET', `/leaderboard${q}`);
      if (opts.json) return console.log(JSON.stringify({ rows }));
      console.table(rows.map((r) => ({ rank: r.rank ?? '', id: r.experimentId.slice(0, 8), model: r.model, encoder: r.encoder, epochs: r.epochs, lr: r.lr, p: r.augmentationP, score: r.score?.toFixed(4) ?? '', status: r.status, backend: r.backend ?? '' })));
    });
}
