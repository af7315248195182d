/** How long queueing a job may wait for Redis. */
export const ENQUEUE_TIMEOUT_MS = 5000;

/**
 * `work`'s result, or a rejection "no answer from Redis within N s" once `ms` have passed
 * (`AbortSignal.timeout`). BullMQ waits for a Redis that is down instead of failing, so whoever
 * queues gives up after a few seconds. `work` itself is not stopped: it may still finish later.
 */
export async function withinEnqueueTimeout<T>(work: Promise<T>, ms = ENQUEUE_TIMEOUT_MS): Promise<T> {
  const signal = AbortSignal.timeout(ms);
  let onTimeout = () => {};
  const timedOut = new Promise<never>((_, reject) => {
    onTimeout = () => reject(new Error(`no answer from Redis within ${ms / 1000} s`));
    signal.addEventListener('abort', onTimeout, { once: true });
  });
  try {
    return await Promise.race([work, timedOut]);
  } finally {
    signal.removeEventListener('abort', onTimeout);
  }
}
