import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { QueueState } from '@capillary/contracts/api';
import { liveWorkers } from '@capillary/queue';
import { largestCapacityMB, unfittableTrials } from '../services/unfittable.ts';

/** `heartbeatTtlMs`: a worker unheard of for this long went away, as the reconciler and /metrics judge it. */
export default async function queueRoutes(fastify: FastifyInstance, opts: { heartbeatTtlMs: number }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const uuids = (ids: string[]) => ids.filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  const projectRuns = async (projectId: string, ids: string[]) => {
    const [experiments, predictions] = await Promise.all([
      app.db.experiment.findMany({ where: { projectId, id: { in: uuids(ids) } }, select: { id: true } }),
      app.db.prediction.findMany({ where: { projectId, id: { in: uuids(ids) } }, select: { id: true } }),
    ]);
    return [...experiments, ...predictions].map((r) => r.id);
  };
  app.get('/queue', {
    schema: {
      summary: "Workers online and job counts of the training queue; each worker's runs of this project only (hosts and PIDs not for anonymous readers); the project's queued trials whose estimated step memory no live worker can hold",
      response: { 200: QueueState },
    },
    config: { action: 'queue.read' },
  }, async (req) => {
    const [counts, live] = await Promise.all([
      app.queues.queue('training').getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'),
      liveWorkers(app.redis, opts.heartbeatTtlMs),
    ]);
    // A worker's runs are listed only where they are this project's: other projects' ids stay hidden.
    const running = live.flatMap((w) => w.running);
    const ours = new Set(running.length ? await projectRuns(req.project!.id, running) : []);
    const named = req.principal?.via !== 'anonymous';
    const workers = live.map(({ host, pid, ...w }) => ({ ...w, running: w.running.filter((id) => ours.has(id)), ...(named ? { host, pid } : {}) }));
    // With no training worker online nothing is judged: the empty worker list says it already.
    const largest = largestCapacityMB(live);
    const unfittable = largest === null ? { listed: [], total: 0 } : await unfittableTrials(app.db, req.project!.id, largest);
    return { counts, workers, largestCapacityMB: largest, unfittable: unfittable.listed, unfittableTotal: unfittable.total };
  });
}
