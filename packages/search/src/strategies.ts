import { Value } from 'typebox/value';
import {
  ExperimentSpec,
  MAX_SWEEP_SIZE,
  type AshaSettings,
  type CostLimits,
  type Distribution,
  type FieldIssue,
  type SearchSpace,
  type SweepGrid,
  type SweepSpec,
  type SweepStrategy,
} from '@capillary/contracts';
import { Rng } from '@capillary/volumes';
import { expandGrid, specsOf } from './grid.ts';
import { pbtIssues } from './pbt.ts';
import { suggestTpe } from './tpe.ts';

/** One run a sweep asks for: its full spec and its place in the sweep (the index it was sampled at). */
export interface SweepTrial {
  spec: ExperimentSpec;
  index: number;
}

type Field = keyof SearchSpace;

/** Which top-level fields each strategy takes; the others are refused by name. */
const FIELDS: Record<SweepStrategy, { needs: (keyof SweepSpec)[]; refuses: (keyof SweepSpec)[] }> = {
  grid: { needs: ['grid'], refuses: ['trials', 'space', 'asha', 'tpe', 'pbt'] },
  random: { needs: ['trials', 'space'], refuses: ['grid', 'asha', 'tpe', 'pbt'] },
  asha: { needs: ['asha'], refuses: ['tpe', 'pbt'] },
  tpe: { needs: ['trials', 'space'], refuses: ['grid', 'asha', 'pbt'] },
  // The population is the trial count: `trials` would say it twice.
  pbt: { needs: ['pbt', 'space'], refuses: ['grid', 'trials', 'asha', 'tpe'] },
};

/** The shape rules the schema cannot say: which fields a strategy takes, bounds that fit the spec. */
export function strategyIssues(sweep: SweepSpec): FieldIssue[] {
  const strategy = sweep.strategy ?? 'grid';
  const issues: FieldIssue[] = [];
  const rule = FIELDS[strategy];
  for (const f of rule.needs) if (sweep[f] === undefined) issues.push({ field: `/${f}`, message: `is required for a ${strategy} sweep` });
  for (const f of rule.refuses) if (sweep[f] !== undefined) issues.push({ field: `/${f}`, message: `is not used by a ${strategy} sweep` });
  if (strategy === 'asha') {
    const sampled = sweep.trials !== undefined || sweep.space !== undefined;
    if (sampled && sweep.grid) issues.push({ field: '/grid', message: 'an asha sweep takes either trials and space, or grid' });
    else if (!sampled && !sweep.grid) issues.push({ field: '/trials', message: 'an asha sweep needs trials and space, or grid' });
    else if (sampled) for (const f of ['trials', 'space'] as const) if (sweep[f] === undefined) issues.push({ field: `/${f}`, message: `is required with ${f === 'trials' ? 'space' : 'trials'}` });
    if (sweep.asha) issues.push(...ashaIssues(sweep));
  }
  if (strategy === 'pbt' && sweep.pbt && sweep.space) issues.push(...pbtIssues(sweep));
  if (sweep.space) issues.push(...spaceIssues(sweep.space));
  return issues;
}

function ashaIssues(sweep: SweepSpec): FieldIssue[] {
  const a = sweep.asha!;
  const issues: FieldIssue[] = [];
  if (a.minEpochs >= a.maxEpochs) issues.push({ field: '/asha/minEpochs', message: `must be below asha.maxEpochs (${a.maxEpochs}): there would be no rung to stop at` });
  // Every trial trains toward maxEpochs: epochs is ASHA's to set.
  if (sweep.space?.epochs) issues.push({ field: '/space/epochs', message: 'is set by asha.maxEpochs in an asha sweep' });
  if (sweep.grid?.epochs) issues.push({ field: '/grid/epochs', message: 'is set by asha.maxEpochs in an asha sweep' });
  if (sweep.base.epochs !== undefined && sweep.base.epochs !== a.maxEpochs) issues.push({ field: '/base/epochs', message: `is set by asha.maxEpochs (${a.maxEpochs}) in an asha sweep; leave it out` });
  return issues;
}

/** Bounds in order, within what the spec field accepts, and choices the field accepts. */
export function spaceIssues(space: SearchSpace): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const [field, dist] of Object.entries(space) as [Field, Distribution][]) {
    const schema = ExperimentSpec.properties[field];
    const [kind, arg] = Object.entries(dist)[0] as [keyof Distribution, unknown[]];
    const at = `/space/${field}/${kind}`;
    if (kind === 'choice') {
      arg.forEach((v, i) => {
        if (!Value.Check(schema, v)) issues.push({ field: `${at}/${i}`, message: `${JSON.stringify(v)} is not a valid ${field}` });
      });
      continue;
    }
    const [lo, hi] = arg as [number, number];
    const integer = (schema as { type?: string }).type === 'integer';
    if (integer && kind !== 'int') {
      issues.push({ field: at, message: `${field} is an integer field: use int or choice` });
      continue;
    }
    if (!(lo < hi)) issues.push({ field: at, message: `low (${lo}) must be below high (${hi})` });
    for (const v of [lo, hi]) {
      if (!Value.Check(schema, v)) issues.push({ field: at, message: `${v} is not a valid ${field}` });
    }
    if (kind === 'int' && !integer) issues.push({ field: at, message: `${field} is not an integer field: use uniform, loguniform or choice` });
  }
  return issues;
}

/** One draw from a distribution. Floats keep 6 significant digits, so specs read well and compare exactly. */
function draw(rng: Rng, d: Distribution): unknown {
  if (d.choice) return d.choice[rng.int(d.choice.length)];
  if (d.int) return d.int[0] + rng.int(d.int[1] - d.int[0] + 1);
  if (d.uniform) return round(rng.range(d.uniform[0], d.uniform[1]));
  const [lo, hi] = d.loguniform!;
  return round(Math.exp(rng.range(Math.log(lo), Math.log(hi))));
}
const round = (x: number) => Number(x.toPrecision(6));

/**
 * The fields trial `index` of a random or ASHA sweep sets: drawn from its own stream
 * (sweep seed, index), one field at a time in name order. So trial i is the same whatever else
 * the sweep holds, and extending a sweep draws exactly the trials a larger first request would have.
 */
export function sampleTrial(space: SearchSpace, seed: number, index: number): Record<string, unknown> {
  const rng = Rng.of(seed, index);
  const out: Record<string, unknown> = {};
  for (const field of (Object.keys(space) as Field[]).sort()) out[field] = draw(rng, space[field]!);
  return out;
}

/** The seed random, ASHA, TPE and PBT trials are sampled from. */
export const sweepSeedOf = (sweep: SweepSpec) => sweep.seed ?? 0;

/**
 * Every run of a sweep as its strategy asks: the grid's combinations, or `count` trials sampled
 * from the space starting at trial `from` (an extension starts where the sweep ended). ASHA
 * trials train toward asha.maxEpochs.
 */
export function expandSweep(sweep: SweepSpec, limits?: CostLimits, range?: { from: number; count: number }): { trials: SweepTrial[]; issues: FieldIssue[] } {
  const shape = strategyIssues(sweep);
  if (shape.length) return { trials: [], issues: shape };
  const fixed: Record<string, unknown> = sweep.strategy === 'asha' ? { epochs: (sweep.asha as AshaSettings).maxEpochs } : {};
  if (sweep.grid) {
    const { specs, issues } = expandGrid({ base: sweep.base, grid: sweep.grid as SweepGrid }, limits, fixed);
    return { trials: specs.map((spec, index) => ({ spec, index })), issues };
  }
  const from = range?.from ?? 0;
  // A TPE search starts with its random trials; the others are decided as trials finish (nextTpeTrial).
  const count = range?.count ?? (sweep.strategy === 'tpe' ? tpeParallelism(sweep) : sweep.strategy === 'pbt' ? sweep.pbt!.population : sweep.trials!);
  if (from + count > MAX_SWEEP_SIZE) return { trials: [], issues: [{ field: '/trials', message: `the sweep would hold ${from + count} trials; at most ${MAX_SWEEP_SIZE}` }] };
  const seed = sweepSeedOf(sweep);
  const indices = Array.from({ length: count }, (_, i) => from + i);
  const combos = indices.map((i) => ({ ...sampleTrial(sweep.space!, seed, i), ...fixed }));
  const { specs, issues } = specsOf(sweep.base, combos, limits, { source: '/space', what: 'of the space' });
  return { trials: issues.length ? [] : specs.map((spec, i) => ({ spec, index: indices[i] })), issues };
}

/** Optuna's default number of random trials before TPE decides. */
export const DEFAULT_TPE_STARTUP_TRIALS = 10;

/**
 * How many trials of a TPE sweep train at once: its random startup trials are queued together,
 * and each trial that ends lets exactly one more be decided.
 */
export function tpeParallelism(sweep: SweepSpec): number {
  return Math.min(sweep.trials!, sweep.tpe?.startupTrials ?? DEFAULT_TPE_STARTUP_TRIALS);
}

/**
 * Trial `index` of a TPE sweep, decided from `finished` (each finished trial's spec and score, in
 * the order they finished): the same seed, index and finished trials always give the same spec.
 * Its random stream is the one a random sweep's trial `index` draws from, so the startup trials
 * are exactly a random sweep's.
 */
export function nextTpeTrial(sweep: SweepSpec, index: number, finished: readonly { spec: Record<string, unknown>; score: number | null }[], limits?: CostLimits): { trial?: SweepTrial; issues: FieldIssue[] } {
  const space = sweep.space!;
  const fields = Object.keys(space);
  const observations = finished.map((f) => ({ params: Object.fromEntries(fields.map((k) => [k, f.spec[k]])), score: f.score ?? Number.NaN }));
  const rng = Rng.of(sweepSeedOf(sweep), index);
  const params = suggestTpe(space, observations, () => rng.float(), { startupTrials: sweep.tpe?.startupTrials ?? DEFAULT_TPE_STARTUP_TRIALS });
  const { specs, issues } = specsOf(sweep.base, [params], limits, { source: '/space', what: 'of the space' });
  return issues.length ? { issues } : { trial: { spec: specs[0], index }, issues: [] };
}
