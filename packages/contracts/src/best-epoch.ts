// The one rule for "the best epoch", used by early stopping (engine), the best checkpoint and the
// leaderboard's validation score (registry), and so by every prediction of the best checkpoint.

/** What an epoch's validation measured, as far as choosing the best epoch goes. */
export interface EpochScores {
  surfaceDice: number | null;
  dice: number | null;
}

/**
 * The score an epoch is ranked by: validation surface Dice, or voxel Dice when surface Dice is
 * undefined (no surface in the labels or the prediction). Null: the epoch was not validated.
 */
export function epochScore(m: EpochScores): number | null {
  return m.surfaceDice ?? m.dice ?? null;
}

/** Whether `candidate` beats `best`; ties keep the earlier epoch, so a later equal one never wins. */
export function isBetterEpoch(candidate: EpochScores, best: EpochScores | null): boolean {
  const c = epochScore(candidate);
  if (c === null) return false;
  const b = best ? epochScore(best) : null;
  return b === null || c > b;
}

/** The best of a run's epochs by {@link epochScore}, earliest on ties; null when none was validated. */
export function bestEpochOf<T extends EpochScores & { epoch: number }>(epochs: readonly T[]): T | null {
  let best: T | null = null;
  for (const e of [...epochs].sort((a, b) => a.epoch - b.epoch)) if (isBetterEpoch(e, best)) best = e;
  return best;
}
