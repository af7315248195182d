/**
 * Asynchronous successive halving (ASHA, Li et al. 2020) as pure decisions: given every trial of a
 * sweep (its state, its rung and its scores at the rungs it finished), which paused trials go on
 * to the next rung and which stop. No I/O: the registry applies the decisions in one transaction.
 *
 * Rungs are epochs r_k = minEpochs * eta^k below maxEpochs, then maxEpochs itself (the top rung,
 * which trials finish as `succeeded`). A trial paused at rung k is promoted as soon as it is among
 * the top floor(n_k / eta) of the n_k trials that finished rung k (ranked by surface Dice at that
 * rung; ties by trial index). Once no trial can still reach rung k (every trial finished it or
 * ended), the paused ones left there stop; if nobody went on from a complete rung, its best
 * trial does, so a sweep smaller than eta still trains one trial to full length.
 */
import type { RunStatus } from './transitions.ts';
import { isTerminal } from './transitions.ts';

export interface AshaConfig {
  minEpochs: number;
  reductionFactor: number;
  maxEpochs: number;
}

export interface AshaTrial {
  id: string;
  status: RunStatus;
  /** The rung the trial trains toward, waits at (paused) or stopped at. */
  rung: number;
  /** Score (best surface Dice up to the rung's epoch) at each rung it finished, rung 0 first. */
  rungScores: (number | null)[];
  /** Order of the trial in its sweep: breaks score ties, so decisions never depend on row order. */
  index: number;
}

export interface AshaDecisions {
  promote: { id: string; fromRung: number; toRung: number }[];
  stop: { id: string; rung: number }[];
}

/** The epochs at which trials reach each rung; the last one is maxEpochs. */
export function rungEpochs(c: AshaConfig): number[] {
  const out: number[] = [];
  for (let r = c.minEpochs; r < c.maxEpochs; r = Math.round(r * c.reductionFactor)) out.push(r);
  out.push(c.maxEpochs);
  return out;
}

/** The epoch a trial at `rung` pauses at, or null at the top rung (it runs to the end). */
export function pauseEpochOf(c: AshaConfig, rung: number): number | null {
  const rungs = rungEpochs(c);
  return rung < rungs.length - 1 ? rungs[rung] : null;
}

const rank = (k: number) => (a: AshaTrial, b: AshaTrial) => {
  const sa = a.rungScores[k] ?? -Infinity;
  const sb = b.rungScores[k] ?? -Infinity;
  return sb - sa || a.index - b.index;
};

/**
 * Every promotion and stop the trials' current state calls for. Idempotent: applying the
 * decisions and asking again yields none.
 */
export function decide(config: AshaConfig, trials: readonly AshaTrial[]): AshaDecisions {
  const eta = config.reductionFactor;
  const top = rungEpochs(config).length - 1;
  // Decisions at rung k change who can still reach rung k+1, so they are applied as we go.
  const state = new Map(trials.map((t) => [t.id, { status: t.status, rung: t.rung }]));
  const out: AshaDecisions = { promote: [], stop: [] };
  for (let k = 0; k < top; k++) {
    const finished = trials.filter((t) => t.rungScores.length > k).sort(rank(k));
    if (!finished.length) continue;
    const wentOn = (t: AshaTrial) => state.get(t.id)!.rung > k;
    const waiting = (t: AshaTrial) => state.get(t.id)!.status === 'paused' && state.get(t.id)!.rung === k;
    const promote = (t: AshaTrial) => {
      state.set(t.id, { status: 'queued', rung: k + 1 });
      out.promote.push({ id: t.id, fromRung: k, toRung: k + 1 });
    };
    for (const t of finished.slice(0, Math.floor(finished.length / eta))) if (waiting(t)) promote(t);
    const complete = trials.every((t) => t.rungScores.length > k || isTerminal(state.get(t.id)!.status));
    if (!complete) continue;
    if (!finished.some(wentOn)) {
      const best = finished.find(waiting);
      if (best) promote(best);
    }
    for (const t of finished) {
      if (!waiting(t)) continue;
      state.set(t.id, { status: 'stopped', rung: k });
      out.stop.push({ id: t.id, rung: k });
    }
  }
  return out;
}

/** Per rung, for display: how many trials finished it and which of them went on. */
export function rungSummary(c: AshaConfig, trials: readonly { id: string; rung: number; epochsDone: number }[]) {
  return rungEpochs(c).map((epoch, rung) => {
    const finished = trials.filter((t) => t.epochsDone >= epoch);
    return { rung, epoch, finished: finished.length, promoted: finished.filter((t) => t.rung > rung).map((t) => t.id) };
  });
}
