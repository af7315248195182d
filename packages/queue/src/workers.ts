import type { RedisClient } from './connection.ts';

/** Redis hash of worker id -> JSON heartbeat, read by the dashboard's queue page. */
export const WORKERS_KEY = 'capillary:workers';

export interface WorkerHeartbeat {
  id: string;
  backend: string;
  concurrency: number;
  running: string[];
  pid: number;
  host: string;
  lastSeen: string;
}

export async function writeHeartbeat(redis: RedisClient, hb: WorkerHeartbeat): Promise<void> {
  await redis.hset(WORKERS_KEY, hb.id, JSON.stringify(hb));
}

export async function removeHeartbeat(redis: RedisClient, id: string): Promise<void> {
  await redis.hdel(WORKERS_KEY, id);
}

/** Workers heard from within `ttlMs`, with the runs each says it holds. */
export async function liveWorkers(redis: RedisClient, ttlMs: number): Promise<WorkerHeartbeat[]> {
  const raw = await redis.hgetall(WORKERS_KEY);
  const since = Date.now() - ttlMs;
  return Object.values(raw)
    .map((v) => JSON.parse(v) as WorkerHeartbeat)
    .filter((w) => Date.parse(w.lastSeen) > since);
}
