import { Redis } from 'ioredis';
import { env } from '@capillary/contracts';

/**
 * A Redis connection for BullMQ. Blocking workers need `maxRetriesPerRequest: null`, or ioredis
 * would fail their long blocking commands after a few retries. Producers that answer HTTP requests
 * use `failFast`: while Redis is unreachable their commands fail at once instead of waiting.
 */
export function redisConnection(url: string = env().REDIS_URL, opts: { failFast?: boolean } = {}): Redis {
  if (opts.failFast) return new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}
