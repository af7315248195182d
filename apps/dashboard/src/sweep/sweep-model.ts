// What the sweep page draws, computed from `GET /sweeps/:id` without the DOM (unit-tested).
import type { SweepDetail, SweepTrial } from '../types.ts';

export interface ParamAxis {
  name: string;
  categories?: string[];
  log?: boolean;
}

/** One axis per varied parameter: categories for text values, log scale for positive values spanning 10x or more. */
export function paramAxes(sweep: SweepDetail): ParamAxis[] {
  return sweep.params.map((name) => {
    const values = sweep.trials.map((t) => t.params[name]).filter((v) => v !== undefined);
    if (values.some((v) => typeof v !== 'number')) return { name, categories: [...new Set(values.map(String))].sort() };
    const nums = values as number[];
    const min = Math.min(...nums);
    return { name, log: min > 0 && Math.max(...nums) / min >= 10 };
  });
}

/** A trial's value on an axis: the category's index for text values. */
export function axisValue(axis: ParamAxis, t: SweepTrial): number | null {
  const v = t.params[axis.name];
  if (v === undefined) return null;
  return axis.categories ? axis.categories.indexOf(String(v)) : (v as number);
}

/** The trials to overlay first: the best three scored ones. */
export function defaultSelection(trials: SweepTrial[], n = 3): string[] {
  return trials.filter((t) => t.score !== null).sort((a, b) => b.score! - a.score!).slice(0, n).map((t) => t.id);
}

/** Per rung: the ASHA summary with, in addition, the trials stopped there. */
export function rungRows(sweep: SweepDetail) {
  return sweep.rungs.map((r) => ({ ...r, stopped: sweep.trials.filter((t) => t.status === 'stopped' && t.rung === r.rung).map((t) => t.id) }));
}

export const trialLabel = (t: SweepTrial) => t.name ?? `trial ${t.trialIndex ?? t.id.slice(0, 8)}`;
