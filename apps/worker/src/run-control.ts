import { UnrecoverableError } from 'bullmq';

/** Why a worker stops a run it holds before the run ends by itself. */
export type StopReason = 'cancelled' | 'superseded' | 'lock-lost' | 'shutdown' | 'timeout' | 'ended';

/** The run was stopped from outside its sandbox; `reason` decides what is written and how the job ends. */
export class RunStopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`run stopped: ${reason}`);
    this.name = 'RunStopped';
  }
}

/** An experiment cancelled by request; never retried. */
export class CancelledError extends UnrecoverableError {
  constructor(what: string) {
    super(`${what} was cancelled`);
    this.name = 'CancelledError';
  }
}

/**
 * One per job a worker holds: the first stop request wins, and its reason is kept for the
 * outcome. BullMQ's own signal (cancelJob) feeds it too.
 */
export class RunControl {
  private readonly controller = new AbortController();

  constructor(bullSignal?: AbortSignal) {
    if (bullSignal?.aborted) this.stop('cancelled');
    else bullSignal?.addEventListener('abort', () => this.stop('cancelled'), { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(reason: StopReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(new RunStopped(reason));
  }

  /** The stop as an error, for the sandbox runner. */
  stopped(): RunStopped {
    return (this.controller.signal.reason as RunStopped | undefined) ?? new RunStopped('cancelled');
  }
}
