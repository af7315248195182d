import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { applyModelDefaults } from '@capillary/contracts';
import { ErrorBody, Experiment, ExperimentDetail, ExperimentRequest, ExperimentStatus } from '@capillary/contracts/api';
import { experimentDetailView, experimentView } from '../services/views.ts';
import { ownerOf } from '../auth/owner.ts';

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
export const ListQuery = Type.Object({
  status: Type.Optional(ExperimentStatus),
  sweepId: Type.Optional(Type.String({ format: 'uuid' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody };

export default async function experimentRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.post('/experiments', {
    schema: {
      summary: 'Queue one training experiment',
      security: [{ apiKey: [] }],
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
      body: ExperimentRequest,
      response: { 201: Experiment, ...errors },
    },
    config: { action: 'experiment.create' },
    preValidation: async (req) => {
      applyModelDefaults(req.body);
    },
  }, async (req, reply) => {
    // The priority travels beside the spec, never in it: it changes when a run starts, not what it trains.
    const { priority, ...spec } = req.body;
    const { experiment } = await app.experiments.create(spec, { owner: ownerOf(req), idempotencyKey: req.headers['idempotency-key'], priority });
    return reply.status(201).send(experimentView(experiment));
  });

  app.get('/experiments', {
    schema: {
      summary: 'List experiments, newest first',
      querystring: ListQuery,
      response: { 200: Type.Object({ total: Type.Integer(), items: Type.Array(Experiment) }, { additionalProperties: false }), 400: ErrorBody },
    },
    config: { action: 'experiment.list' },
  }, async (req) => {
    const { total, items } = await app.experiments.list({ ...req.query, projectId: req.project!.id });
    return { total, items: items.map(experimentView) };
  });

  app.get('/experiments/:id', {
    schema: { summary: 'One experiment with its epoch metrics, checkpoints and attempts', params: IdParams, response: { 200: ExperimentDetail, 400: ErrorBody, 404: ErrorBody } },
    config: { action: 'experiment.read' },
  }, async (req) => experimentDetailView(await app.experiments.get(req.params.id)));

  app.post('/experiments/:id/close', {
    schema: {
      summary: 'Close a lone experiment: reveals its private-test score (a sweep member closes with its sweep: 409)',
      security: [{ apiKey: [] }],
      params: IdParams,
      response: { 200: Experiment, ...errors },
    },
    config: { action: 'experiment.close' },
  }, async (req) => experimentView(await app.experiments.close(req.params.id)));

  app.delete('/experiments/:id', {
    schema: { summary: 'Cancel an experiment (queued: removed; running: stopped within seconds)', security: [{ apiKey: [] }], params: IdParams, response: { 200: Experiment, ...errors } },
    config: { action: 'experiment.cancel' },
  }, async (req) => experimentView(await app.experiments.cancel(req.params.id)));

}
