import type { ExperimentStatus } from '@capillary/db';

export type RunStatus = ExperimentStatus;

/**
 * Every state change an experiment or a prediction may make, as from-state -> allowed to-states.
 * `running -> queued` is a hand-over (shutdown, lost worker, outage, retry after an error of the
 * run itself); terminal states never move again.
 */
export const TRANSITIONS: Record<RunStatus, readonly RunStatus[]> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['succeeded', 'failed', 'cancelled', 'queued'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export const TERMINAL: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];

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
