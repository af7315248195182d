/**
 * ASHA against the full grid on one fixed, seeded synthetic-kidney task:
 *
 *   npm run bench -- asha [--epochs 16] [--min 2] [--eta 4] [--steps 20] [--threads 1]
 *
 * The grid: 16 configurations (8 learning rates x 2 augmentation probabilities), each trained for
 * `--epochs`; `--grid-only` stops after it (its per-epoch curves are printed, for studying rungs). ASHA: the same 16 configurations as an ASHA sweep over the same grid, decided by the
 * platform's own `decide()` (packages/registry/src/asha.ts) as trials pause, each leg resumed from
 * the previous leg's checkpoint with the maxEpochs schedule (as a worker does), one trial at a time
 * in trial order, promotions first (what the queue's fixed priorities give). Scores are each
 * trial's best validation surface Dice. Last line: one JSON with gridBest, ashaBest, gridEpochs,
 * ashaEpochs and budgetRatio = ashaEpochs / gridEpochs (goal: ashaBest within 0.01 of gridBest,
 * budgetRatio <= 0.35), and `identical`: every epoch ASHA trained equals the grid's same epoch.
 */
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { selectBackend, train, type EpochReport } from '@capillary/engine';
import { decide, rungEpochs, pauseEpochOf, type AshaConfig, type AshaTrial } from '@capillary/registry';
import { benchArgs, integerArg } from './_args.ts';
import { describeHost, hostLine } from './_host.ts';
import { AUG, LRS, best, scoreOf, taskSpec, trainVolumes, validation } from './_kidney-task.ts';

const { values: opts } = benchArgs({
  options: {
    epochs: { type: 'string', default: '16' },
    min: { type: 'string', default: '2' },
    eta: { type: 'string', default: '4' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string', default: '1' },
    'grid-only': { type: 'boolean', default: false },
  },
});
const EPOCHS = integerArg('epochs', opts.epochs);
// eta of at least 2, as the sweep contract asks.
const config: AshaConfig = { minEpochs: integerArg('min', opts.min), reductionFactor: integerArg('eta', opts.eta, 2), maxEpochs: EPOCHS };
const STEPS = integerArg('steps', opts.steps);
// 0: the backend's own thread count.
const THREADS = integerArg('threads', opts.threads, 0);
console.log(hostLine());

await selectBackend('wasm', THREADS);
const specs: ExperimentSpec[] = LRS.flatMap((lr) => AUG.map((augmentationP) => Value.Default(ExperimentSpec, {
  ...taskSpec('bench-asha', EPOCHS, STEPS), lr, augmentationP,
}) as ExperimentSpec));

/** One leg: from `resume` (or the start) to `stopAfter` (or the end); reports and the last checkpoint. */
async function leg(spec: ExperimentSpec, resume?: Uint8Array, stopAfter?: number) {
  const reports: EpochReport[] = [];
  let checkpoint: Uint8Array | undefined;
  await train({ spec, train: trainVolumes, validation, resume, stopAfterEpoch: stopAfter, onEpoch: async (r, c) => { reports.push(r); checkpoint = c; } });
  return { reports, checkpoint: checkpoint! };
}

const t0 = performance.now();
const grid: EpochReport[][] = [];
for (const [i, spec] of specs.entries()) {
  grid.push((await leg(spec)).reports);
  console.log(`grid ${i + 1}/${specs.length} lr ${spec.lr} p ${spec.augmentationP}: best ${best(grid[i]).toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s) curve ${JSON.stringify(grid[i].map((r) => Number(scoreOf(r).toFixed(4))))}`);
}
if (opts['grid-only']) process.exit(0);
const gridSeconds = (performance.now() - t0) / 1000;

// ASHA: the platform's decisions, applied as each leg pauses.
const t1 = performance.now();
const rungs = rungEpochs(config);
const trials = specs.map((_, i) => ({ status: 'queued' as AshaTrial['status'], rung: 0, reports: [] as EpochReport[], checkpoint: undefined as Uint8Array | undefined }));
let ashaEpochs = 0;
let identical = true;
const view = (): AshaTrial[] => trials.map((t, i) => ({
  id: String(i), index: i, status: t.status, rung: t.rung,
  rungScores: rungs.filter((r) => t.reports.length >= r).map((r) => best(t.reports.slice(0, r))),
}));
for (;;) {
  // Promoted trials keep their early place in the queue: the lowest trial index waiting runs next.
  const next = trials.findIndex((t) => t.status === 'queued');
  if (next < 0) break;
  const t = trials[next];
  const stopAt = pauseEpochOf(config, t.rung) ?? undefined;
  const { reports, checkpoint } = await leg(specs[next], t.checkpoint, stopAt);
  ashaEpochs += reports.length;
  for (const r of reports) if (JSON.stringify(r.trainLoss) !== JSON.stringify(grid[next][r.epoch - 1].trainLoss) || scoreOf(r) !== scoreOf(grid[next][r.epoch - 1])) identical = false;
  t.reports.push(...reports);
  t.checkpoint = checkpoint;
  t.status = stopAt === undefined ? 'succeeded' : 'paused';
  const { promote, stop } = decide(config, view());
  for (const p of promote) Object.assign(trials[Number(p.id)], { status: 'queued', rung: p.toRung });
  for (const s of stop) trials[Number(s.id)].status = 'stopped';
  console.log(`asha trial ${next} to epoch ${t.reports.length}: best ${best(t.reports).toFixed(4)}; promoted [${promote.map((p) => p.id)}] stopped [${stop.map((s) => s.id)}]`);
}
const ashaSeconds = (performance.now() - t1) / 1000;

const gridBest = Math.max(...grid.map(best));
const ashaBest = Math.max(...trials.map((t) => best(t.reports)));
const gridEpochs = specs.length * EPOCHS;
const perRung = rungs.map((r) => trials.filter((t) => t.reports.length >= r).length);
const result = {
  bench: 'asha',
  host: describeHost(),
  configurations: specs.length,
  asha: config,
  rungs,
  trialsPerRung: perRung,
  gridBest: Number(gridBest.toFixed(4)),
  ashaBest: Number(ashaBest.toFixed(4)),
  gap: Number((gridBest - ashaBest).toFixed(4)),
  gridEpochs,
  ashaEpochs,
  budgetRatio: Number((ashaEpochs / gridEpochs).toFixed(4)),
  identical,
  gridSeconds: Math.round(gridSeconds),
  ashaSeconds: Math.round(ashaSeconds),
  goalMet: gridBest - ashaBest <= 0.01 && ashaEpochs / gridEpochs <= 0.35,
};
console.log(JSON.stringify(result));
