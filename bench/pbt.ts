/**
 * Population-based training against random search, on the seeded synthetic-kidney task of `bench asha`:
 *
 *   npm run bench -- pbt [--population 8] [--epochs 8] [--interval 2] [--quantile 0.25] [--seeds 3] [--steps 20] [--threads 1]
 *
 * For each seed: a pbt sweep's population (sampled from the space as a random sweep's trials are,
 * so its members start as the random search's own trials) trained in synchronous intervals: every
 * member trains to the interval epoch (`stopAfterEpoch`, as a paused platform member does), then
 * the platform's own `decidePbt` says which bottom members copy which top members' checkpoints
 * and how their lr and augmentationP change; the copies resume from the donor's checkpoint with
 * the new spec (so the schedule follows the new lr). Against it, the random search: the same
 * trials, each trained `--epochs` with nothing copied. A leg is trained once for a given spec and
 * starting checkpoint (training is deterministic, and resuming is bit-identical), so members that
 * are never copied over cost nothing twice. Scores: each run's best validation surface Dice over
 * its epochs. Last line: one JSON with the per-seed bests, pbtMeanBest, randomMeanBest, their
 * ratio and the goal pbtMeanBest >= randomMeanBest.
 */
import { Value } from 'typebox/value';
import { ExperimentSpec, parseEnv, type SweepSpec } from '@capillary/contracts';
import { selectBackend, train, type EpochReport } from '@capillary/engine';
import { decidePbt, expandSweep } from '@capillary/search';
import { benchArgs, integerArg } from './_args.ts';
import { describeHost, hostLine } from './_host.ts';
import { TASK_SPACE, best, scoreOf, taskSpec, trainVolumes, validation } from './_kidney-task.ts';

const { values: opts } = benchArgs({
  options: {
    population: { type: 'string', default: '8' },
    epochs: { type: 'string', default: '8' },
    interval: { type: 'string', default: '2' },
    quantile: { type: 'string', default: '0.25' },
    seeds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
  },
});
const POPULATION = integerArg('population', opts.population, 2);
const EPOCHS = integerArg('epochs', opts.epochs);
const INTERVAL = integerArg('interval', opts.interval);
const QUANTILE = Number(opts.quantile);
if (!(QUANTILE > 0 && QUANTILE <= 0.5)) {
  console.error(`--quantile: expected a number in (0, 0.5], got "${opts.quantile}"`);
  process.exit(2);
}
const SEEDS = integerArg('seeds', opts.seeds);
const STEPS = integerArg('steps', opts.steps);
const THREADS = integerArg('threads', opts.threads, 0);
console.log(hostLine());

await selectBackend('wasm', THREADS);
const base = taskSpec('bench-pbt', EPOCHS, STEPS);
const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });

interface Leg { reports: EpochReport[]; checkpoint: Uint8Array }
/** Legs by (where they start, spec, stop epoch): a key names the weights a run holds. */
const legs = new Map<string, Leg>();
let epochsTrained = 0;
async function leg(from: { key: string; checkpoint?: Uint8Array }, spec: ExperimentSpec, stopAfter: number): Promise<{ key: string } & Leg> {
  const key = `${from.key} > ${JSON.stringify(spec)}@${stopAfter}`;
  let done = legs.get(key);
  if (!done) {
    const reports: EpochReport[] = [];
    let checkpoint: Uint8Array | undefined;
    await train({ spec, train: trainVolumes, validation, resume: from.checkpoint, stopAfterEpoch: stopAfter, retuned: true, onEpoch: async (r, c) => { reports.push(r); checkpoint = c; } });
    epochsTrained += reports.length;
    done = { reports, checkpoint: checkpoint! };
    legs.set(key, done);
  }
  return { key, ...done };
}

interface Member { index: number; spec: ExperimentSpec; key: string; checkpoint?: Uint8Array; reports: EpochReport[] }
const stops = Array.from({ length: Math.ceil(EPOCHS / INTERVAL) }, (_, i) => Math.min(EPOCHS, (i + 1) * INTERVAL));

const t0 = performance.now();
const perSeed: { seed: number; randomBest: number; pbtBest: number; pbtFinalBest: number; randomFinalBest: number; exploits: number }[] = [];
for (let seed = 1; seed <= SEEDS; seed++) {
  const sweep = { name: 'p', base, strategy: 'pbt', space: TASK_SPACE, seed, pbt: { population: POPULATION, perturbationInterval: INTERVAL, quantile: QUANTILE } } as SweepSpec;
  const { trials, issues } = expandSweep(sweep, limits);
  if (issues.length) throw new Error(`pbt sweep: ${JSON.stringify(issues)}`);
  const members: Member[] = trials.map((t) => ({ index: t.index, spec: t.spec, key: `member ${t.index}`, reports: [] }));
  let exploits = 0;
  for (const stop of stops) {
    // Synchronous: every member reaches the interval, in trial order, before anyone is decided on.
    for (const m of members) {
      const done = await leg(m, m.spec, stop);
      Object.assign(m, { key: done.key, checkpoint: done.checkpoint });
      m.reports.push(...done.reports);
    }
    if (stop === EPOCHS) break;
    const atStop = members.map((m) => ({ index: m.index, score: scoreOf(m.reports[m.reports.length - 1]), params: { lr: m.spec.lr, augmentationP: m.spec.augmentationP } }));
    const decided = decidePbt(sweep, stop, atStop);
    for (const e of decided) {
      const member = members[e.member];
      const donor = members[e.donor];
      member.spec = Value.Default(ExperimentSpec, { ...member.spec, ...e.params }) as ExperimentSpec;
      Object.assign(member, { key: donor.key, checkpoint: donor.checkpoint });
    }
    exploits += decided.length;
    console.log(`seed ${seed} epoch ${stop}: ${decided.map((e) => `${e.member} <- ${e.donor} (${e.changes.map((c) => `${c.field} ${c.from} x${c.factor} = ${c.to}`).join(', ')})`).join('; ') || 'no exploit'}`);
  }
  const pbtBest = Math.max(...members.map((m) => best(m.reports)));
  const pbtFinalBest = Math.max(...members.map((m) => scoreOf(m.reports[m.reports.length - 1])));
  // Random search: the same trials, never copied over (their legs are the members' first ones).
  const random: EpochReport[][] = [];
  for (const t of trials) {
    let from: { key: string; checkpoint?: Uint8Array } = { key: `member ${t.index}` };
    const reports: EpochReport[] = [];
    for (const stop of stops) {
      const done = await leg(from, t.spec, stop);
      reports.push(...done.reports);
      from = done;
    }
    random.push(reports);
  }
  const randomBest = Math.max(...random.map(best));
  const randomFinalBest = Math.max(...random.map((rs) => scoreOf(rs[rs.length - 1])));
  const r4 = (x: number) => Number(x.toFixed(4));
  perSeed.push({ seed, randomBest: r4(randomBest), pbtBest: r4(pbtBest), pbtFinalBest: r4(pbtFinalBest), randomFinalBest: r4(randomFinalBest), exploits });
  console.log(`seed ${seed}: random best ${randomBest.toFixed(4)}, pbt best ${pbtBest.toFixed(4)} (final epoch: random ${randomFinalBest.toFixed(4)}, pbt ${pbtFinalBest.toFixed(4)}; ${epochsTrained} epochs trained, ${Math.round((performance.now() - t0) / 1000)} s)`);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pbtMeanBest = mean(perSeed.map((s) => s.pbtBest));
const randomMeanBest = mean(perSeed.map((s) => s.randomBest));
console.log(JSON.stringify({
  bench: 'pbt',
  host: describeHost(),
  population: POPULATION, epochs: EPOCHS, perturbationInterval: INTERVAL, quantile: QUANTILE, seeds: SEEDS, stepsPerEpoch: STEPS,
  epochsTrained,
  seconds: Math.round((performance.now() - t0) / 1000),
  perSeed,
  pbtMeanBest: Number(pbtMeanBest.toFixed(4)),
  randomMeanBest: Number(randomMeanBest.toFixed(4)),
  // Reference: random search's mean best, measured in this run on the same trials.
  ratio: { pbtMeanBestOverRandomMeanBest: Number((pbtMeanBest / randomMeanBest).toFixed(4)) },
  goalMet: pbtMeanBest >= randomMeanBest,
}));
