import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { liveWorkers } from '@capillary/queue/workers';

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

/** `heartbeatTtlMs`: a worker unheard of for this long went away, as the reconciler and /metrics judge it. */
export default async function queueRoutes(fastify: FastifyInstance, opts: { heartbeatTtlMs: number }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/queue', {
    schema: {
      summary: 'Workers online and job counts of the training queue (hosts and PIDs only with an API key)',
      response: { 200: Type.Object({ counts: Type.Record(Type.String(), Type.Integer()), workers: Type.Array(Worker) }, Closed) },
    },
  }, async (req) => {
    const [counts, live, key] = await Promise.all([
      app.queues.queue('training').getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'),
      liveWorkers(app.redis, opts.heartbeatTtlMs),
      app.apiKeyOf(req),
    ]);
    const workers = live.map(({ host, pid, ...w }) => (key ? { ...w, host, pid } : w));
    return { counts, workers };
  });
}
