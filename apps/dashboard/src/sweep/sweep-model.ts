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

/** PBT's lineage as a drawing: one lane per member over the epochs, one arrow per exploit (donor at its epoch -> member at the interval). */
export interface LineageGraph {
  lanes: { id: string; label: string; lane: number; epochs: number }[];
  arrows: { from: string; to: string; fromLane: number; toLane: number; fromEpoch: number; epoch: number; change: string }[];
  maxEpoch: number;
}

const shortValue = (v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(3)) : String(v));

export function lineageGraph(sweep: SweepDetail): LineageGraph {
  const lanes = sweep.trials.map((t, lane) => ({ id: t.id, label: trialLabel(t), lane, epochs: t.curve.length ? t.curve[t.curve.length - 1].epoch : 0 }));
  const laneOf = new Map(lanes.map((l) => [l.id, l.lane]));
  const arrows = sweep.lineage
    .filter((x) => laneOf.has(x.experimentId) && laneOf.has(x.fromExperimentId))
    .map((x) => ({
      from: x.fromExperimentId, to: x.experimentId, fromLane: laneOf.get(x.fromExperimentId)!, toLane: laneOf.get(x.experimentId)!, fromEpoch: x.fromEpoch, epoch: x.epoch,
      // What changed against the member's own values: the donor's, perturbed.
      change: Object.keys(x.after).map((k) => `${k} ${shortValue(x.before[k])} → ${shortValue(x.after[k])}`).join(', '),
    }));
  const maxEpoch = Math.max(1, ...lanes.map((l) => l.epochs), ...arrows.map((a) => a.epoch));
  return { lanes, arrows, maxEpoch };
}
