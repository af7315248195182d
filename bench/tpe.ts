/**
 * TPE against random search and the grid, on the seeded synthetic-kidney task of `bench asha`:
 *
 *   npm run bench -- tpe [--trials 16] [--startup 4] [--seeds 5] [--epochs 16] [--steps 20] [--threads 1]
 *
 * The grid: bench asha's 16 configurations (8 learning rates x 2 augmentation probabilities), each
 * trained for `--epochs`. The search space spans the same ranges (lr loguniform, augmentationP
 * uniform). For each seed, a random search of `--trials` trials and a TPE search of as many, the
 * platform's own `nextTpeTrial` deciding trial k from trials 0..k-1 in order (a sweep with one
 * trial at a time). The first `--startup` TPE trials are the random search's own, so they train
 * once. Scores are each trial's best validation surface Dice. Last line: one JSON with gridBest,
 * the per-seed bests, tpeMeanBest, randomMeanBest and the goals: tpeMeanBest within 0.01 of
 * gridBest, and tpeMeanBest above randomMeanBest.
 */
import { Value } from 'typebox/value';
import { ExperimentSpec, parseEnv, type SweepSpec } from '@capillary/contracts';
import { selectBackend, train, type EpochReport } from '@capillary/engine';
import { expandSweep, nextTpeTrial } from '@capillary/search';
import { benchArgs, integerArg } from './_args.ts';
import { describeHost, hostLine } from './_host.ts';
import { AUG, LRS, TASK_SPACE, best, taskSpec, trainVolumes, validation } from './_kidney-task.ts';

const { values: opts } = benchArgs({
  options: {
    trials: { type: 'string', default: '16' },
    startup: { type: 'string', default: '4' },
    seeds: { type: 'string', default: '5' },
    epochs: { type: 'string', default: '16' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
  },
});
const TRIALS = integerArg('trials', opts.trials);
const STARTUP = integerArg('startup', opts.startup);
const SEEDS = integerArg('seeds', opts.seeds);
const EPOCHS = integerArg('epochs', opts.epochs);
const STEPS = integerArg('steps', opts.steps);
const THREADS = integerArg('threads', opts.threads, 0);
console.log(hostLine());

await selectBackend('wasm', THREADS);
const base = taskSpec('bench-tpe', EPOCHS, STEPS);
const limits = parseEnv({ DATABASE_URL: 'x', REDIS_URL: 'x', S3_ENDPOINT: 'x' });

// Trainings are deterministic for a spec: one run per distinct (lr, augmentationP).
const scores = new Map<string, number>();
let trainings = 0;
async function scoreOf(spec: ExperimentSpec): Promise<number> {
  const key = `${spec.lr}/${spec.augmentationP}`;
  const known = scores.get(key);
  if (known !== undefined) return known;
  const reports: EpochReport[] = [];
  await train({ spec, train: trainVolumes, validation, onEpoch: async (r) => void reports.push(r) });
  trainings++;
  const score = best(reports);
  scores.set(key, score);
  return score;
}

const t0 = performance.now();
let gridBest = 0;
for (const lr of LRS) for (const augmentationP of AUG) gridBest = Math.max(gridBest, await scoreOf(Value.Default(ExperimentSpec, { ...base, lr, augmentationP }) as ExperimentSpec));
console.log(`grid: best ${gridBest.toFixed(4)} (${Math.round((performance.now() - t0) / 1000)} s)`);

const perSeed: { seed: number; randomBest: number; tpeBest: number }[] = [];
for (let seed = 1; seed <= SEEDS; seed++) {
  const random = { name: 'r', base, strategy: 'random', trials: TRIALS, space: TASK_SPACE, seed } as SweepSpec;
  let randomBest = 0;
  for (const t of expandSweep(random, limits).trials) randomBest = Math.max(randomBest, await scoreOf(t.spec));
  const tpe = { name: 't', base, strategy: 'tpe', trials: TRIALS, space: TASK_SPACE, seed, tpe: { startupTrials: STARTUP } } as SweepSpec;
  const finished: { spec: Record<string, unknown>; score: number }[] = [];
  for (let k = 0; k < TRIALS; k++) {
    const { trial, issues } = nextTpeTrial(tpe, k, finished, limits);
    if (!trial) throw new Error(`tpe trial ${k}: ${JSON.stringify(issues)}`);
    finished.push({ spec: trial.spec as unknown as Record<string, unknown>, score: await scoreOf(trial.spec) });
  }
  const tpeBest = Math.max(...finished.map((f) => f.score));
  perSeed.push({ seed, randomBest: Number(randomBest.toFixed(4)), tpeBest: Number(tpeBest.toFixed(4)) });
  console.log(`seed ${seed}: random best ${randomBest.toFixed(4)}, tpe best ${tpeBest.toFixed(4)} (${trainings} trainings, ${Math.round((performance.now() - t0) / 1000)} s)`);
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const tpeMeanBest = mean(perSeed.map((s) => s.tpeBest));
const randomMeanBest = mean(perSeed.map((s) => s.randomBest));
console.log(JSON.stringify({
  bench: 'tpe',
  host: describeHost(),
  trials: TRIALS, startupTrials: STARTUP, seeds: SEEDS, epochs: EPOCHS, trainings,
  gridBest: Number(gridBest.toFixed(4)),
  perSeed,
  tpeMeanBest: Number(tpeMeanBest.toFixed(4)),
  randomMeanBest: Number(randomMeanBest.toFixed(4)),
  // Reference: the grid's best and random search's mean best, measured in this run.
  ratio: { tpeMeanBestOverGridBest: Number((tpeMeanBest / gridBest).toFixed(4)), tpeMeanBestOverRandomMeanBest: Number((tpeMeanBest / randomMeanBest).toFixed(4)) },
  goalMet: gridBest - tpeMeanBest <= 0.01 && tpeMeanBest > randomMeanBest,
}));
