// `npm run bench -- faults [--trials N] [--only name,name]`: every fault drill of "Nothing lost",
// N times each, on the bench stack. Last line: { drills: { <name>: { trials, experiments, lost,
// duplicatedEpochs, stuck, workerCrashes, violations } }, total, ratio } where `ratio` is the share of
// experiments that came through untouched (1 is the goal; the reference is "every experiment").
import { stackProfile, stackUp } from '@capillary/devstack';
import { benchArgs, integerArg } from './_args.ts';

const { values: opts } = benchArgs({ options: { trials: { type: 'string', default: '1' }, only: { type: 'string' } } });
const trials = integerArg('trials', opts.trials);
const profile = stackProfile('bench');
Object.assign(process.env, await stackUp(profile, (l) => console.error(`[stack:bench] ${l}`)), { NODE_ENV: 'test', LOG_LEVEL: 'warn' });

const { DRILLS } = await import('../test/drills/drills.ts');
const only = opts.only?.split(',');
const unknown = only?.filter((n) => !(n in DRILLS));
if (unknown?.length) {
  console.error(`--only: no drill named ${unknown.join(', ')} (drills: ${Object.keys(DRILLS).join(', ')})`);
  process.exit(2);
}
const { seedSyntheticDataset } = await import('@capillary/cli/demo');
const dataset = 'bench-drill-kidney';
await seedSyntheticDataset(dataset, { seed: 11, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });

type Tally = { trials: number; experiments: number; lost: number; duplicatedEpochs: number; stuck: number; workerCrashes: number; violations: string[] };
const drills: Record<string, Tally> = {};
const started = Date.now();
for (const [name, drill] of Object.entries(DRILLS).filter(([n]) => !only || only.includes(n))) {
  const sum: Tally = { trials: 0, experiments: 0, lost: 0, duplicatedEpochs: 0, stuck: 0, workerCrashes: 0, violations: [] };
  for (let t = 1; t <= trials; t++) {
    const t0 = Date.now();
    const r = await drill({ profile, dataset, log: (l) => console.error(`[faults] ${name} #${t}: ${l}`) }).catch(async (e) => {
      // A drill that could not finish counts everything it held as lost; the stack comes back up.
      console.error(`[faults] ${name} #${t} aborted: ${(e as Error).stack ?? e}`);
      await stackUp(profile);
      return { experiments: 1, lost: 1, duplicatedEpochs: 0, stuck: 1, workerCrashes: 0, violations: [`aborted: ${(e as Error).message}`] };
    });
    for (const k of ['experiments', 'lost', 'duplicatedEpochs', 'stuck', 'workerCrashes'] as const) sum[k] += r[k];
    sum.violations.push(...r.violations.map((x) => `#${t}: ${x}`));
    sum.trials++;
    console.error(`[faults] ${name} #${t}: ${JSON.stringify(r)} in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  drills[name] = sum;
}
const all = Object.values(drills);
const experiments = all.reduce((a, d) => a + d.experiments, 0);
const lost = all.reduce((a, d) => a + d.lost, 0);
console.log(JSON.stringify({ drills, total: { experiments, lost, seconds: Math.round((Date.now() - started) / 1000) }, ratio: experiments ? (experiments - lost) / experiments : 0 }));
process.exit(0);
