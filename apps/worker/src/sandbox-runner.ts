import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { UnrecoverableError } from 'bullmq';
import type { FromSandbox, ToSandbox } from '@capillary/contracts';
import { OutageError } from './outage.ts';

const SANDBOX = fileURLToPath(new URL('./sandbox.ts', import.meta.url));

export type SandboxOutcome = { ok: true } | { ok: false; error: Error };

/** The sandbox ran out of memory: the spec asks for more than this machine has. Not retried. */
export class OutOfMemoryError extends UnrecoverableError {
  constructor(detail: string) {
    super(`the training sandbox ran out of memory (${detail}); lower tileSize, batchSize or baseFilters`);
    this.name = 'OutOfMemoryError';
  }
}

/**
 * Runs one unit of heavy work in a child process and feeds its messages, in order, to `handle`.
 * Settles on the child's `done` or `error` message, on its exit, on a failing handler, or on
 * `signal` (the child is killed at once and `abortError()` is the outcome).
 */
export function runSandbox(
  start: ToSandbox,
  handle: (m: FromSandbox, send: (m: ToSandbox) => void) => Promise<void>,
  signal: AbortSignal | undefined,
  abortError: () => Error,
): Promise<SandboxOutcome> {
  // TensorFlow takes nearly all of a GPU's memory per process unless told to grow: sandboxes packed
  // onto one GPU by memory (packing.ts) would starve each other. An operator's own setting wins.
  const env = { TF_FORCE_GPU_ALLOW_GROWTH: 'true', ...process.env };
  const child = fork(SANDBOX, [], { execArgv: ['--import', 'tsx'], env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const send = (m: ToSandbox) => {
    if (child.connected) child.send(m);
  };
  return new Promise<SandboxOutcome>((resolve) => {
    let settled = false;
    let killedByUs = false;
    const settle = (r: SandboxOutcome) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) {
        killedByUs = true;
        child.kill('SIGKILL');
      }
      resolve(r);
    };
    const onAbort = () => settle({ ok: false, error: abortError() });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    // One message at a time: an epoch is stored before the next message is looked at.
    let chain = Promise.resolve();
    child.on('message', (m: FromSandbox) => {
      chain = chain
        .then(async () => {
          if (settled) return;
          if (m.type === 'done') return settle({ ok: true });
          if (m.type === 'error') return settle({ ok: false, error: sandboxError(m) });
          await handle(m, send);
        })
        .catch((e) => settle({ ok: false, error: e as Error }));
    });
    child.on('exit', (code, sig) => {
      // Let queued messages (a last epoch, done or error) land before judging the exit. A child
      // killed by SIGKILL that we did not send, or aborted by V8 (134), ran out of memory.
      void chain.then(() => {
        const oom = !killedByUs && (sig === 'SIGKILL' || code === 134);
        settle({ ok: false, error: oom ? new OutOfMemoryError(`code ${code}, signal ${sig}`) : new Error(`sandbox exited (code ${code}, signal ${sig}) before finishing`) });
      });
    });
    send(start);
  });
}

function sandboxError(m: Extract<FromSandbox, { type: 'error' }>): Error {
  if (m.outOfMemory) return new OutOfMemoryError(m.message.split('\n')[0]);
  if (m.infrastructure) return new OutageError(m.message.split('\n')[0]);
  return m.unrecoverable ? new UnrecoverableError(m.message) : new Error(m.message);
}
