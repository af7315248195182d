import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { WORKERS_KEY } from '@capillary/queue/workers';

export default async function queueRoutes(app: FastifyInstance) {
  app.get('/queue', {
    schema: {
      summary: 'Workers online and job counts of the training queue',
      response: {
        200: Type.Object({
          counts: Type.Record(Type.String(), Type.Integer()),
          workers: Type.Array(Type.Object({ id: Type.String(), backend: Type.String(), concurrency: Type.Integer(), running: Type.Array(Type.String()), lastSeen: Type.String() }, { additionalProperties: true })),
        }),
      },
    },
  }, async () => {
    const counts = await app.queues.queue('training').getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    const raw = await app.redis.hgetall(WORKERS_KEY);
    const staleBefore = Date.now() - 30_000;
    const workers = Object.values(raw).map((v) => JSON.parse(v)).filter((w) => Date.parse(w.lastSeen) > staleBefore);
    return { counts, workers };
  });
}
