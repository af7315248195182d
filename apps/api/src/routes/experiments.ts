import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { applyModelDefaults } from '@capillary/contracts';
import { ErrorBody, Experiment, ExperimentDetail, ExperimentSpec, ExperimentStatus } from '../schemas.ts';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const ListQuery = Type.Object({
  status: Type.Optional(ExperimentStatus),
  sweepId: Type.Optional(Type.String({ format: 'uuid' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export default async function experimentRoutes(app: FastifyInstance) {
  app.post('/experiments', {
    schema: {
      summary: 'Queue one training experiment',
      security: [{ apiKey: [] }],
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
      body: ExperimentSpec,
      response: { 201: Experiment, ...errors },
    },
    preValidation: async (req) => {
      applyModelDefaults(req.body);
    },
    preHandler: app.requireApiKey,
  }, async (req, reply) => {
    const key = (req.headers as { 'idempotency-key'?: string })['idempotency-key'];
    const { experiment } = await app.experiments.create(req.body as Static<typeof ExperimentSpec>, key);
    return reply.status(201).send(experiment);
  });

  app.get('/experiments', {
    schema: {
      summary: 'List experiments, newest first',
      querystring: ListQuery,
      response: { 200: Type.Object({ total: Type.Integer(), items: Type.Array(Experiment) }), 400: ErrorBody },
    },
  }, async (req) => app.experiments.list(req.query as Static<typeof ListQuery>));

  app.get('/experiments/:id', {
    schema: { summary: 'One experiment with its epoch metrics, checkpoints and attempts', params: IdParams, response: { 200: ExperimentDetail, 400: ErrorBody, 404: ErrorBody } },
  }, async (req) => app.experiments.get((req.params as Static<typeof IdParams>).id));

  app.delete('/experiments/:id', {
    schema: { summary: 'Cancel an experiment (queued: removed; running: stopped within seconds)', security: [{ apiKey: [] }], params: IdParams, response: { 200: Experiment, ...errors } },
    preHandler: app.requireApiKey,
  }, async (req) => app.experiments.cancel((req.params as Static<typeof IdParams>).id));

}
