// Every Redis key and channel name that Capillary uses, in one place: BullMQ's keys under the queue
// prefix, and the few of its own that live beside them. Code that looks at Redis directly (tests,
// drills, benchmarks) names keys through these too.
import { env } from '@capillary/contracts';

/** The prefix of every BullMQ key (`QUEUE_PREFIX`, default `{capillary}`: one hash tag, one cluster slot). */
export function queuePrefix(): string {
  return env().QUEUE_PREFIX;
}

/**
 * A BullMQ key named by hand: `queueKey('training', id)` is the hash of job `id`,
 * `queueKey('training', 'wait')` the wait list.
 */
export function queueKey(queue: string, suffix: string, prefix: string = queuePrefix()): string {
  return `${prefix}:${queue}:${suffix}`;
}

/** Hash of worker id -> JSON heartbeat. */
export const WORKERS_KEY = 'capillary:workers';

/** The reconciler's leader lease: one API replica at a time reconciles. */
export const RECONCILER_LEADER_KEY = 'capillary:reconciler:leader';

/** Dashboard sessions, one key per session id (`@fastify/session` with `connect-redis`). */
export const SESSION_PREFIX = 'capillary:session:';

/** `@fastify/rate-limit`'s counters, shared by API replicas. */
export const RATE_LIMIT_PREFIX = 'capillary:rate-limit:';

/** Pub/sub channel on which cancellations reach whichever worker holds a job. */
export const CANCEL_CHANNEL = 'capillary:cancel';

/** Pub/sub channel of one experiment's live events (progress, epochs, status). */
export const eventChannel = (experimentId: string) => `capillary:events:${experimentId}`;
