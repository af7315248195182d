import type { WorkerHeartbeat } from '@capillary/contracts';
import type { RedisClient } from './connection.ts';
import { WORKERS_KEY } from './redis-keys.ts';

/** Writes (or refreshes) a process's beat in the workers hash. */
export async function writeHeartbeat(redis: RedisClient, hb: WorkerHeartbeat): Promise<void> {
  await redis.hset(WORKERS_KEY, hb.id, JSON.stringify(hb));
}

export async function removeHeartbeat(redis: RedisClient, id: string): Promise<void> {
  await redis.hdel(WORKERS_KEY, id);
}

/**
 * Workers heard from within `ttlMs`, with the runs each says it holds: the one judgement of who is
 * alive, which the reconciler, `/queue` and `/metrics` all make with HEARTBEAT_TTL_MS.
 */
export async function liveWorkers(redis: RedisClient, ttlMs: number): Promise<WorkerHeartbeat[]> {
  const raw = await redis.hgetall(WORKERS_KEY);
  const since = Date.now() - ttlMs;
  return Object.values(raw)
    .map((v) => JSON.parse(v) as WorkerHeartbeat)
    .filter((w) => Date.parse(w.lastSeen) > since);
}

/**
 * The beat of a process that holds runs: a worker, or `capillary predict` computing in its own
 * process. The reconciler leaves alone every running row that a live beat lists; when the beats
 * stop (the process died), it gives the row to the queue.
 */
export class HeartbeatWriter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly describe: () => Omit<WorkerHeartbeat, 'lastSeen'>,
    private readonly intervalMs: number,
  ) {}

  /**
   * Beats once, awaited and not forgiven (the first pass of a reconciler must already see it), then
   * every interval.
   */
  async start(): Promise<void> {
    await writeHeartbeat(this.redis, { ...this.describe(), lastSeen: new Date().toISOString() });
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
  }

  /** Stops beating and withdraws the beat, so nothing reads this process as alive. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await removeHeartbeat(this.redis, this.describe().id).catch(() => undefined);
  }

  // A beat lost to a Redis outage is made again at the next interval.
  private beat(): Promise<void> {
    return writeHeartbeat(this.redis, { ...this.describe(), lastSeen: new Date().toISOString() }).catch(() => undefined);
  }
}
