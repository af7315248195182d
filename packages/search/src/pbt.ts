/**
 * Population-based training's exploit/explore step (Jaderberg et al. 2017, "truncation selection"
 * with "perturb"), as a pure function of the sweep and the members' scores at one interval epoch.
 * The bench and the platform both decide with it, so what the bench measures is what a sweep does.
 */
import {
  DEFAULT_PBT_PERTURB_FACTORS,
  DEFAULT_PBT_QUANTILE,
  type Distribution,
  type FieldIssue,
  type SweepSpec,
} from '@capillary/contracts';
import { Rng } from '@capillary/volumes';

/** The fields an exploiting member perturbs, where the space has them. */
export const PBT_PERTURBED_FIELDS = ['lr', 'augmentationP'] as const;
type PerturbedField = (typeof PBT_PERTURBED_FIELDS)[number];

// PBT's draws come from streams of their own: random trials use streams 0..MAX_SWEEP_SIZE.
const PBT_STREAM = 1 << 20;

export interface PbtMember {
  /** The member's trial index in the sweep. */
  index: number;
  /** Its validation score (surface Dice) at the interval epoch; null ranks last. */
  score: number | null;
  /** Its current values of the space's fields. */
  params: Record<string, unknown>;
}

export interface PbtChange {
  field: PerturbedField;
  from: number;
  to: number;
  factor: number;
}

/** A bottom member that takes a top member's weights and hyperparameters, then perturbs them. */
export interface PbtExploit {
  member: number;
  donor: number;
  /** The member's new values of the space's fields: the donor's, with the perturbed fields changed. */
  params: Record<string, unknown>;
  /** The perturbations applied to the donor's values, field by field. */
  changes: PbtChange[];
}

/** How many members exploit (and how many are copied) in a population of `n`: at least one. */
export function pbtCutoff(n: number, quantile = DEFAULT_PBT_QUANTILE): number {
  return n < 2 ? 0 : Math.max(1, Math.floor(n * quantile));
}

/**
 * At interval `epoch`, given the members that reached it in the order they did: the bottom
 * `quantile` (ranked by score, ties to the earlier arrival) each copy a member of the top
 * `quantile`, drawn at random, and multiply its lr and augmentationP by a factor drawn from
 * `perturbFactors`, clamped into the space's bounds. Deterministic for the sweep's seed, the epoch
 * and the members in their order; top and middle members are left alone.
 */
export function decidePbt(sweep: SweepSpec, epoch: number, members: readonly PbtMember[]): PbtExploit[] {
  const settings = sweep.pbt!;
  const factors = settings.perturbFactors ?? DEFAULT_PBT_PERTURB_FACTORS;
  const k = pbtCutoff(members.length, settings.quantile);
  if (k === 0) return [];
  const ranked = members.map((m, order) => ({ m, order })).sort((a, b) => {
    const sa = a.m.score ?? Number.NEGATIVE_INFINITY;
    const sb = b.m.score ?? Number.NEGATIVE_INFINITY;
    return sb - sa || a.order - b.order;
  });
  const top = ranked.slice(0, k).map((r) => r.m);
  // The worst first: it draws first.
  const bottom = ranked.slice(ranked.length - k).reverse().map((r) => r.m);
  const rng = Rng.of(sweep.seed ?? 0, PBT_STREAM + epoch);
  const fields = PBT_PERTURBED_FIELDS.filter((f) => sweep.space?.[f] !== undefined);
  return bottom.map((member) => {
    const donor = top[rng.int(top.length)];
    const params = { ...donor.params };
    const changes: PbtChange[] = [];
    for (const field of fields) {
      const factor = factors[rng.int(factors.length)];
      const from = Number(donor.params[field]);
      const to = clampInto(sweep.space![field]!, from * factor);
      params[field] = to;
      changes.push({ field, from, to, factor });
    }
    return { member: member.index, donor: donor.index, params, changes };
  });
}

const round = (x: number) => Number(x.toPrecision(6));
function clampInto(d: Distribution, x: number): number {
  const [lo, hi] = (d.uniform ?? d.loguniform)!;
  return round(Math.min(hi, Math.max(lo, x)));
}

/** What the schema cannot say about a pbt sweep, each naming its field. */
export function pbtIssues(sweep: SweepSpec): FieldIssue[] {
  const p = sweep.pbt!;
  const space = sweep.space!;
  const issues: FieldIssue[] = [];
  // Members swap weights: they must all train the same length, on the same schedule.
  if (space.epochs) issues.push({ field: '/space/epochs', message: 'is set by base.epochs in a pbt sweep: every member trains as long' });
  if (sweep.base.epochs === undefined) issues.push({ field: '/base/epochs', message: 'is required for a pbt sweep: every member trains for it' });
  else if (p.perturbationInterval >= sweep.base.epochs) issues.push({ field: '/pbt/perturbationInterval', message: `must be below base.epochs (${sweep.base.epochs}): there would be no interval to perturb at` });
  const perturbed = PBT_PERTURBED_FIELDS.filter((f) => space[f] !== undefined);
  if (perturbed.length === 0) issues.push({ field: '/space', message: `a pbt sweep perturbs ${PBT_PERTURBED_FIELDS.join(' and ')}: the space needs at least one of them` });
  for (const f of perturbed) {
    if (!space[f]!.uniform && !space[f]!.loguniform) issues.push({ field: `/space/${f}`, message: 'pbt multiplies it by perturbFactors: use uniform or loguniform' });
  }
  return issues;
}
