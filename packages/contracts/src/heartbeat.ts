// The worker heartbeat: a worker (or `capillary predict`) writes it to Redis, the API's reconciler,
// /queue and /metrics read it back, and the dashboard shows it, so its shape is written once, here.
import { Type, type Static } from 'typebox';

/** One process's beat: who it is, where it runs, and the runs it says it holds. */
export const WorkerHeartbeat = Type.Object({
  id: Type.String(),
  /** The tfjs backend it trains on. */
  backend: Type.String(),
  concurrency: Type.Integer(),
  /**
   * The memory it packs training trials into (WORKER_MEMORY_MB), in MB; absent from a process that
   * takes no training jobs (`capillary predict`) and from workers older than packing.
   */
  memoryMB: Type.Optional(Type.Number()),
  /** The estimated step memory of the trials it runs now, in MB. */
  memoryInUseMB: Type.Optional(Type.Number()),
  /** Ids of the experiments and predictions it holds. */
  running: Type.Array(Type.String()),
  pid: Type.Integer(),
  host: Type.String(),
  /** ISO time of the beat; a beat older than HEARTBEAT_TTL_MS is a process that went away. */
  lastSeen: Type.String(),
}, { additionalProperties: false });
export type WorkerHeartbeat = Static<typeof WorkerHeartbeat>;
