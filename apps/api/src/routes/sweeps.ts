import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { ErrorBody, Experiment, SweepSpec } from '../schemas.ts';

const SweepBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  closedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  experiments: Type.Array(Experiment),
});
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export default async function sweepRoutes(app: FastifyInstance) {
  app.post('/sweeps', {
    schema: {
      summary: 'Queue a grid of experiments (every combination of the listed values) as one sweep',
      security: [{ apiKey: [] }],
      body: SweepSpec,
      response: { 201: SweepBody, 400: ErrorBody, 401: ErrorBody },
    },
    preHandler: app.requireApiKey,
  }, async (req, reply) => reply.status(201).send(await app.experiments.createSweep(req.body as Static<typeof SweepSpec>)));

  app.get('/sweeps', {
    schema: { summary: 'List sweeps', response: { 200: Type.Object({ items: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), closedAt: Type.Union([Type.String(), Type.Null()]), experiments: Type.Integer() })) }) } },
  }, async () => {
    const rows = await app.db.sweep.findMany({ orderBy: { createdAt: 'desc' }, include: { _count: { select: { experiments: true } } } });
    return { items: rows.map((s) => ({ id: s.id, name: s.name, createdAt: s.createdAt.toISOString(), closedAt: s.closedAt?.toISOString() ?? null, experiments: s._count.experiments })) };
  });

  app.post('/sweeps/:id/close', {
    schema: { summary: 'Close a sweep: reveals its private-test scores on the leaderboard', security: [{ apiKey: [] }], params: IdParams, response: { 200: Type.Object({ id: Type.String(), closedAt: Type.String() }), 401: ErrorBody, 404: ErrorBody } },
    preHandler: app.requireApiKey,
  }, async (req, reply) => {
    const { id } = req.params as Static<typeof IdParams>;
    const s = await app.db.sweep.findUnique({ where: { id } });
    if (!s) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `sweep ${id} not found` });
    const closed = await app.db.sweep.update({ where: { id }, data: { closedAt: s.closedAt ?? new Date() } });
    return { id, closedAt: closed.closedAt!.toISOString() };
  });
}
