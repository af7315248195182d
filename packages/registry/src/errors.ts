import { UnrecoverableError } from 'bullmq';

/**
 * A write refused because the writer's attempt is no longer the current one: a newer attempt
 * took the job over, or the run was cancelled or ended. The writer must stop at once.
 */
export class FencedError extends Error {
  constructor(
    readonly kind: 'experiment' | 'prediction',
    readonly id: string,
    readonly attempt: number,
    readonly reason: 'cancelled' | 'superseded' | 'ended',
  ) {
    super(`${kind} ${id}: attempt ${attempt} is fenced off (${reason})`);
    this.name = 'FencedError';
  }
}

/** A run that must not start: it is gone, cancelled or already finished. Never retried. */
export class NotRunnableError extends UnrecoverableError {
  constructor(
    readonly kind: 'experiment' | 'prediction',
    readonly id: string,
    readonly reason: 'missing' | 'cancelled' | 'ended',
  ) {
    super(`${kind} ${id} ${reason === 'missing' ? 'does not exist' : reason === 'cancelled' ? 'was cancelled' : 'has already ended'}`);
    this.name = 'NotRunnableError';
  }
}

/** A state change the transition table does not allow (e.g. cancelling a finished run). */
export class TransitionError extends Error {
  constructor(
    readonly kind: 'experiment' | 'prediction',
    readonly id: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`${kind} ${id} is ${from}: it cannot become ${to}`);
    this.name = 'TransitionError';
  }
}
