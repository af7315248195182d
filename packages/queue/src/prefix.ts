import { env } from '@capillary/contracts';

/** The prefix of every BullMQ key (`QUEUE_PREFIX`, default `{capillary}`: one hash tag, one cluster slot). */
export function queuePrefix(): string {
  return env().QUEUE_PREFIX;
}

/**
 * A BullMQ key named by hand, for code that looks at Redis directly (tests, drills, benchmarks):
 * `queueKey('training', id)` is the hash of job `id`, `queueKey('training', 'wait')` the wait list.
 */
export function queueKey(queue: string, suffix: string, prefix: string = queuePrefix()): string {
  return `${prefix}:${queue}:${suffix}`;
}
