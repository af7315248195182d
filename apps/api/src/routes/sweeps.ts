import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Experiment, SweepSpec } from '../schemas.ts';
import { notFound } from '../services/errors.ts';
import { experimentView } from '../services/views.ts';

const Closed = { additionalProperties: false } as const;
const SweepBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  closedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  experiments: Type.Array(Experiment),
}, Closed);
const SweepSummary = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), closedAt: Type.Union([Type.String(), Type.Null()]), experiments: Type.Integer() }, Closed);
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export default async function sweepRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/sweeps', {
    schema: {
      summary: 'Queue a grid of experiments (every combination of the listed values) as one sweep',
      security: [{ apiKey: [] }],
      body: SweepSpec,
      response: { 201: SweepBody, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody, 503: ErrorBody },
    },
    preHandler: app.requireApiKey,
  }, async (req, reply) => {
    const sweep = await app.experiments.createSweep(req.body, { apiKeyId: req.apiKey?.id });
    return reply.status(201).send({
      id: sweep.id,
      name: sweep.name,
      createdAt: sweep.createdAt.toISOString(),
      closedAt: sweep.closedAt?.toISOString() ?? null,
      experiments: sweep.experiments.map(experimentView),
    });
  });

  app.get('/sweeps', {
    schema: { summary: 'List sweeps', response: { 200: Type.Object({ items: Type.Array(SweepSummary) }, Closed) } },
  }, async () => {
    const rows = await app.db.sweep.findMany({ orderBy: { createdAt: 'desc' }, include: { _count: { select: { experiments: true } } } });
    return { items: rows.map((s) => ({ id: s.id, name: s.name, createdAt: s.createdAt.toISOString(), closedAt: s.closedAt?.toISOString() ?? null, experiments: s._count.experiments })) };
  });

  app.post('/sweeps/:id/close', {
    schema: { summary: 'Close a sweep: reveals its private-test scores on the leaderboard', security: [{ apiKey: [] }], params: IdParams, response: { 200: Type.Object({ id: Type.String(), closedAt: Type.String() }, Closed), 400: ErrorBody, 401: ErrorBody, 404: ErrorBody } },
    preHandler: app.requireApiKey,
  }, async (req) => {
    const { id } = req.params;
    const closed = await app.registry.closeSweep(id);
    if (!closed) throw notFound(`sweep ${id}`);
    return { id, closedAt: closed.closedAt.toISOString() };
  });
}
