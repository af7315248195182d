import { Redis } from 'ioredis';
import { env } from '@capillary/contracts';

/**
 * A Redis connection for BullMQ. Blocking workers need `maxRetriesPerRequest: null`, or ioredis
 * would fail their long blocking commands after a few retries.
 */
export function redisConnection(url: string = env().REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}
