import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { env } from '@capillary/contracts';

/** A standalone Redis or a Redis Cluster: every Capillary command works on both. */
export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** Producers that answer HTTP requests: while Redis is unreachable, commands fail at once instead of waiting. */
  failFast?: boolean;
  /** `url` lists seed nodes of a Redis Cluster (comma-separated); default `REDIS_CLUSTER`. */
  cluster?: boolean;
}

/**
 * A Redis connection for BullMQ and Capillary's own keys. Blocking workers need
 * `maxRetriesPerRequest: null`, or ioredis would fail their long blocking commands after a few
 * retries. With `cluster`, an ioredis `Cluster` over the seed nodes in `url`: it learns the rest
 * of the cluster from them and follows MOVED/ASK redirections; the credentials and TLS of the
 * first URL apply to every node.
 */
export function redisConnection(url: string = env().REDIS_URL, opts: ConnectionOptions = {}): RedisClient {
  const failFast = opts.failFast ?? false;
  const perCommand: RedisOptions = failFast
    ? { maxRetriesPerRequest: 1, connectTimeout: 2000 }
    : { maxRetriesPerRequest: null, enableReadyCheck: true };
  if (!(opts.cluster ?? env().REDIS_CLUSTER)) {
    return new Redis(url, { ...perCommand, enableOfflineQueue: !failFast, lazyConnect: false });
  }
  const seeds = clusterSeeds(url);
  return new Cluster(seeds.nodes, {
    redisOptions: { ...perCommand, ...seeds.auth },
    // Commands issued before the slot map is known wait for it, unless the caller must answer now.
    enableOfflineQueue: !failFast,
    enableReadyCheck: true,
  });
}

/** Seed nodes and credentials from `redis://[user:pass@]host:port,redis://host:port,...`. */
export function clusterSeeds(urls: string): { nodes: ClusterNode[]; auth: Pick<RedisOptions, 'username' | 'password' | 'tls'> } {
  const parsed = urls.split(',').map((u) => new URL(u.trim()));
  const first = parsed[0];
  return {
    nodes: parsed.map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
    auth: {
      ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
      ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
      ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

/**
 * Resolves once `redis` can take commands; rejects after `timeoutMs`. For a fail-fast client
 * (no offline queue), whose first commands would otherwise fail while it is still connecting.
 */
export async function whenReady(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`Redis did not answer within ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
