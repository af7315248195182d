import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { applyModelDefaults } from '@capillary/contracts';
import { ErrorBody, Experiment, ExperimentDetail, ExperimentSpec, ExperimentStatus } from '../schemas.ts';
import { experimentDetailView, experimentView } from '../services/views.ts';

export const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
export const ListQuery = Type.Object({
  status: Type.Optional(ExperimentStatus),
  sweepId: Type.Optional(Type.String({ format: 'uuid' })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  offset: Type.Integer({ minimum: 0, default: 0 }),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody };

export default async function experimentRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  // Open event streams never end by themselves: close them when the server closes.
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
  });

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
    const { experiment } = await app.experiments.create(req.body, { apiKeyId: req.apiKey?.id, idempotencyKey: req.headers['idempotency-key'] });
    return reply.status(201).send(experimentView(experiment));
  });

  app.get('/experiments', {
    schema: {
      summary: 'List experiments, newest first',
      querystring: ListQuery,
      response: { 200: Type.Object({ total: Type.Integer(), items: Type.Array(Experiment) }, { additionalProperties: false }), 400: ErrorBody },
    },
  }, async (req) => {
    const { total, items } = await app.experiments.list(req.query);
    return { total, items: items.map(experimentView) };
  });

  app.get('/experiments/:id', {
    schema: { summary: 'One experiment with its epoch metrics, checkpoints and attempts', params: IdParams, response: { 200: ExperimentDetail, 400: ErrorBody, 404: ErrorBody } },
  }, async (req) => experimentDetailView(await app.experiments.get(req.params.id)));

  app.delete('/experiments/:id', {
    schema: { summary: 'Cancel an experiment (queued: removed; running: stopped within seconds)', security: [{ apiKey: [] }], params: IdParams, response: { 200: Experiment, ...errors } },
    preHandler: app.requireApiKey,
  }, async (req) => experimentView(await app.experiments.cancel(req.params.id)));

  app.get('/experiments/:id/events', {
    schema: { summary: 'Server-Sent Events: status, progress and epoch results as they happen', params: IdParams },
    config: { rateLimit: false },
  }, async (req, reply) => {
    const { id } = req.params as Static<typeof IdParams>;
    await app.experiments.get(id); // 404 before the stream opens
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // Subscribe before reading the snapshot, holding events back until it is sent, so nothing
    // that happens in between is lost and the snapshot always comes first.
    let held: { type: string }[] | null = [];
    const stop = await app.events.onExperiment(id, (e) => (held ? held.push(e) : send(e.type, e)));
    const experiment = await app.experiments.get(id);
    send('snapshot', { status: experiment.status, epochMetrics: experiment.epochMetrics, score: experiment.score });
    for (const e of held) send(e.type, e);
    held = null;
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const close = () => {
      clearInterval(keepAlive);
      streams.delete(res);
      void stop();
    };
    streams.add(res);
    req.raw.on('close', close);
  });
}
