import type { Command } from 'commander';
import { apiOptions, apiRequest } from '../api-client.ts';

interface Row {
  rank: number | null; experimentId: string; model: string; encoder: string; epochs: number; lr: number; augmentationP: number;
  score: number | null; scoreSource: string | null; validatedOnTraining: boolean; privateScore: number | null; privateRevealed: boolean;
  status: string; backend: string | null;
}

const fmt = (v: number | null) => v?.toFixed(4) ?? '';

export function register(program: Command) {
  program
    .command('leaderboard')
    .description('print the leaderboard (public-test surface Dice where scored, else validation; private once closed)')
    .option('--sweep <id>', 'only this sweep')
    .option('--json', 'print the raw JSON')
    .option('--api <url>', 'API base URL')
    .action(async (opts) => {
      const q = opts.sweep ? `?sweepId=${encodeURIComponent(opts.sweep)}` : '';
      const { rows } = await apiRequest<{ rows: Row[] }>(apiOptions(opts), 'GET', `/leaderboard${q}`);
      if (opts.json) return console.log(JSON.stringify({ rows }));
      console.table(rows.map((r) => ({
        rank: r.rank ?? '', id: r.experimentId.slice(0, 8), model: r.model, encoder: r.encoder, epochs: r.epochs, lr: r.lr, p: r.augmentationP,
        score: fmt(r.score), 'scored on': `${r.scoreSource ?? ''}${r.validatedOnTraining && r.scoreSource !== 'training' ? ' (validated on train)' : ''}`,
        private: r.privateRevealed ? fmt(r.privateScore) : 'hidden', status: r.status, backend: r.backend ?? '',
      })));
    });

}
