import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WORKERS_KEY, type WorkerHeartbeat } from '@capillary/queue/workers';

const Closed = { additionalProperties: false } as const;
const Worker = Type.Object({
  id: Type.String(),
  backend: Type.String(),
  concurrency: Type.Integer(),
  running: Type.Array(Type.String()),
  lastSeen: Type.String(),
  /** Only for callers with a valid API key: where the worker runs is no one else's business. */
  host: Type.Optional(Type.String()),
  pid: Type.Optional(Type.Integer()),
}, Closed);

/** A heartbeat older than this is a worker that went away without saying so. */
const STALE_MS = 30_000;

export default async function queueRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/queue', {
    schema: {
      summary: 'Workers online and job counts of the training queue (hosts and PIDs only with an API key)',
      response: { 200: Type.Object({ counts: Type.Record(Type.String(), Type.Integer()), workers: Type.Array(Worker) }, Closed) },
    },
  }, async (req) => {
    const [counts, raw, key] = await Promise.all([
      app.queues.queue('training').getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'),
      app.redis.hgetall(WORKERS_KEY),
      app.apiKeyOf(req),
    ]);
    const staleBefore = Date.now() - STALE_MS;
    const workers = Object.values(raw)
      .map((v) => JSON.parse(v) as WorkerHeartbeat)
      .filter((w) => Date.parse(w.lastSeen) > staleBefore)
      .map(({ host, pid, ...w }) => (key ? { ...w, host, pid } : w));
    return { counts, workers };
  });
}
