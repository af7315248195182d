import { setTimeout as sleep } from 'node:timers/promises';
import { isInfrastructureError } from '@capillary/contracts';

/** Postgres, Redis or S3 stayed unreachable longer than a job waits in place. Never spends an attempt. */
export class OutageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutageError';
  }
}

export interface WaitOutOptions {
  signal?: AbortSignal;
  /** Give up (OutageError) after this long; the job is then handed back to the queue. */
  maxMs: number;
  /** Called on the first infrastructure error of a wait, e.g. to stop taking new jobs. */
  onOutage?: (e: unknown) => void;
}

/**
 * Runs `fn`, repeating it with capped exponential back-off while it fails because a service is
 * unreachable. Any other error, and an abort, end the wait at once.
 */
export async function waitOut<T>(fn: () => Promise<T>, opts: WaitOutOptions): Promise<T> {
  const until = Date.now() + opts.maxMs;
  for (let delay = 200, first = true; ; delay = Math.min(delay * 2, 5000), first = false) {
    opts.signal?.throwIfAborted();
    try {
      return await fn();
    } catch (e) {
      if (!isInfrastructureError(e)) throw e;
      if (first) opts.onOutage?.(e);
      if (Date.now() + delay > until) throw new OutageError(`still unreachable after ${Math.round(opts.maxMs / 1000)} s: ${(e as Error).message}`, { cause: e });
      await sleep(delay, undefined, { signal: opts.signal }).catch(() => undefined);
    }
  }
}

/**
 * Stops a worker from taking new jobs while a service it needs is down, and lets it take jobs
 * again once every probe answers. The jobs it holds keep waiting out the outage in place.
 */
export class OutageGate {
  private probing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly probes: Record<string, () => Promise<unknown>>,
    private readonly hooks: { pause(): Promise<void> | void; resume(): void; log(down: string[]): void },
  ) {}

  /** Something failed for want of a service: pause and probe until all answer. */
  trip(): void {
    if (this.probing || this.closed) return;
    this.probing = (async () => {
      await this.hooks.pause();
      for (let delay = 500; !this.closed; delay = Math.min(delay * 2, 5000)) {
        const down = await this.down();
        if (!down.length) break;
        this.hooks.log(down);
        await sleep(delay);
      }
      if (!this.closed) this.hooks.resume();
    })()
      .catch(() => undefined)
      .finally(() => (this.probing = undefined));
  }

  /** Names of the services that do not answer now. */
  async down(): Promise<string[]> {
    const results = await Promise.all(Object.entries(this.probes).map(async ([name, probe]) => ((await probe().then(() => true, () => false)) ? null : name)));
    return results.filter((n): n is string => n !== null);
  }

  close(): void {
    this.closed = true;
  }
}
