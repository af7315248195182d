import type { ExperimentStatus } from '@capillary/db';

export type RunStatus = ExperimentStatus;

/**
 * Every state change an experiment or a prediction may make, as from-state -> allowed to-states.
 * `running -> queued` is a hand-over (shutdown, lost worker, outage, retry after an error of the
 * run itself). ASHA adds `running -> paused` (a trial reached its rung), `paused -> queued` (a
 * promotion), `paused -> stopped` (not promoted) and `queued -> paused` (undo of a promotion whose
 * job the queue refused). A capped sweep (`maxConcurrent`) adds `held`: a trial waiting for a
 * place, with no job; `held -> queued` is its release (sweep-cap.ts), and a promotion or a re-run
 * in such a sweep goes to `held` instead of `queued`. Terminal states never move again, except the sweep re-run's
 * `failed|cancelled -> queued` (see RERUN), which no other writer may use.
 */
export const TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  queued: ['running', 'cancelled', 'failed', 'paused'],
  running: ['succeeded', 'failed', 'cancelled', 'queued', 'paused'],
  paused: ['queued', 'held', 'stopped', 'cancelled'],
  held: ['queued', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  stopped: [],
};

/**
 * The one way out of a terminal state: `POST /sweeps/:id/rerun` re-queues a sweep's failed and
 * cancelled cells, each resuming from its last checkpoint. Kept apart from TRANSITIONS so no
 * ordinary move can revive a finished run.
 */
export const RERUN: Record<RunStatus, readonly RunStatus[]> = {
  queued: [], running: [], paused: [], succeeded: [], stopped: [], held: [],
  failed: ['queued', 'held'],
  cancelled: ['queued', 'held'],
};

export const TERMINAL: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'stopped'];

/** The states a row must be in for a move to `to`. */
export function fromStates(to: RunStatus): RunStatus[] {
  return (Object.keys(TRANSITIONS) as RunStatus[]).filter((from) => TRANSITIONS[from].includes(to));
}

export const isTerminal = (s: RunStatus) => TERMINAL.includes(s);

/**
 * Whether a writer holding `attempt` may still write: the row must be running under that very
 * attempt. Anything else says why the writer is fenced off.
 */
export function fenceVerdict(row: { status: RunStatus; attempts: number } | null | undefined, attempt: number): 'ok' | 'cancelled' | 'superseded' | 'ended' {
  if (!row) return 'ended';
  if (row.status === 'cancelled') return 'cancelled';
  if (row.attempts !== attempt) return 'superseded';
  if (row.status !== 'running') return 'ended';
  return 'ok';
}
