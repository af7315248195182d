import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { apiOptions, apiRequest } from '../api-client.ts';

/**
 * Submits an experiment spec (or a sweep: a JSON file with `base`, and `grid` or a strategy) from a file or from flags.
 * Validation happens in the API, so the messages are the API's.
 */
export function register(program: Command) {
  program
    .command('submit')
    .description('queue an experiment or a sweep through the API')
    .option('-f, --file <spec.json>', 'experiment spec, or sweep ({ name, base, grid } or { name, base, strategy, ... }) as JSON')
    .option('--dataset <name>')
    .option('--model <name>', 'unet | attention-unet | unet25d')
    .option('--epochs <n>', 'epochs', Number)
    .option('--lr <x>', 'learning rate', Number)
    .option('--p <x>', 'augmentation probability', Number)
    .option('--name <name>')
    .option('--api <url>', 'API base URL (default $CAPILLARY_API or http://127.0.0.1:3000)')
    .option('--key <key>', 'API key (default $CAPILLARY_API_KEY)')
    .action(async (opts) => {
      let body: Record<string, unknown>;
      if (opts.file) {
        try {
          body = JSON.parse(readFileSync(opts.file, 'utf8'));
        } catch (e) {
          throw new Error(`${opts.file}: ${(e as Error).message}`);
        }
      } else {
        body = { dataset: opts.dataset, model: opts.model, epochs: opts.epochs, lr: opts.lr, augmentationP: opts.p, name: opts.name };
        for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      }
      const o = apiOptions(opts);
      // Every sweep has a base (grid, random and asha alike); an experiment spec never does.
      const isSweep = 'base' in body || 'grid' in body;
      const res = await apiRequest<{ id: string; experiments?: { id: string }[] }>(o, 'POST', isSweep ? '/sweeps' : '/experiments', body);
      console.log(JSON.stringify(isSweep ? { sweepId: res.id, experiments: res.experiments?.map((e) => e.id) } : { experimentId: res.id }));
    });
}
