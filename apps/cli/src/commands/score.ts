import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { scoreSubmission, type ScoreProgress } from '@capillary/metric';

/**
 * `capillary score --solution S.csv --submission P.csv`: the competition's surface Dice, as JSON on
 * stdout (`score`, `perImage`, and `reasons` for null scores). Progress goes to stderr, and only on
 * a terminal, so stdout stays machine-readable.
 */
export function register(program: Command) {
  program
    .command('score')
    .description('score a submission CSV (id,rle) against a solution CSV (id,rle,width,height,image,slice)')
    .requiredOption('--solution <file>', 'solution CSV: id,rle,width,height,image,slice')
    .requiredOption('--submission <file>', 'submission CSV: id,rle')
    .action(async (opts: { solution: string; submission: string }) => {
      const bar = process.stderr.isTTY
        ? new SingleBar({ format: 'scoring {image} [{bar}] {value}/{total} slices', stream: process.stderr }, Presets.shades_classic)
        : undefined;
      let current = '';
      const onProgress = (p: ScoreProgress) => {
        if (!bar) return;
        if (p.image !== current) {
          if (current) bar.stop();
          current = p.image;
          bar.start(p.slicesTotal, 0, { image: p.image });
        }
        bar.update(p.slicesDone);
      };
      try {
        const result = await scoreSubmission(opts.solution, opts.submission, { onProgress });
        bar?.stop();
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } catch (e) {
        bar?.stop();
        throw e;
      }
    });
}
