import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { WebhookEventName } from '@capillary/contracts';
import { WebhookService } from '../services/webhooks.ts';
import { Closed, IdParams, errors, security } from './admin-schemas.ts';

const NullableString = Type.Union([Type.String(), Type.Null()]);
const When = Type.String({ format: 'date-time' });

export const WebhookRequest = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2000, description: 'where events are posted: an absolute http(s) URL' }),
  events: Type.Array(WebhookEventName, { minItems: 1, maxItems: 3, description: 'the event types to receive' }),
  secret: Type.Optional(Type.String({ minLength: 16, maxLength: 200, description: 'the signing secret; unset: one is made and shown once in the answer' })),
  apiKeyId: Type.Optional(Type.String({ format: 'uuid', description: "only events of runs this API key created (a key of one of the project's members); unset: every run of the project" })),
  description: Type.Optional(Type.String({ maxLength: 500 })),
}, Closed);

export const DeliveriesQuery = Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) });

const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  apiKeyId: NullableString,
  description: NullableString,
  createdAt: When,
}, Closed);
const NewEndpoint = Type.Object({ ...Endpoint.properties, secret: Type.String({ description: 'the signing secret; shown only here, store it now' }) }, Closed);

const Delivery = Type.Object({
  id: Type.String(),
  seq: Type.Integer({ description: 'per endpoint, deliveries are tried in this order' }),
  eventId: Type.String(),
  event: Type.String(),
  subjectId: Type.String({ description: 'the experiment or sweep' }),
  status: Type.Enum(['pending', 'delivered', 'failed']),
  attempts: Type.Integer(),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: NullableString,
  createdAt: When,
  deliveredAt: Type.Union([When, Type.Null()]),
  failedAt: Type.Union([When, Type.Null()]),
  tries: Type.Array(Type.Object({
    number: Type.Integer(),
    statusCode: Type.Union([Type.Integer(), Type.Null()], { description: 'null: no answer (error says why)' }),
    error: NullableString,
    durationMs: Type.Integer(),
    at: When,
  }, Closed)),
}, Closed);

/**
 * Webhook endpoints: a project's admins register them in the request's project (the
 * `x-capillary-project` header, else the key's or user's one project), list them, read their
 * deliveries and delete them (`:id` routes act in the endpoint's own project).
 */
export default async function webhookRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const service = new WebhookService(app.db, app.webhooks);

  app.post('/webhooks', {
    schema: {
      summary: 'Register a webhook endpoint: experiment.succeeded|failed and sweep.finished events, signed with its secret (shown once)',
      security,
      body: WebhookRequest,
      response: { 201: NewEndpoint, ...errors },
    },
    config: { action: 'webhook.create' },
  }, async (req, reply) => reply.status(201).send(await service.create(req.project!.id, req.principal!.userId, req.body)));

  app.get('/webhooks', {
    schema: { summary: "The project's webhook endpoints (never their secrets)", security, response: { 200: Type.Object({ items: Type.Array(Endpoint) }, Closed), ...errors } },
    config: { action: 'webhook.list' },
  }, async (req) => service.list(req.project!.id));

  app.delete('/webhooks/:id', {
    schema: { summary: 'Delete a webhook endpoint and its deliveries (pending ones are not sent)', security, params: IdParams, response: { 200: Endpoint, ...errors } },
    config: { action: 'webhook.delete' },
  }, async (req) => service.remove(req.project!.id, req.params.id));

  app.get('/webhooks/:id/deliveries', {
    schema: {
      summary: "An endpoint's newest deliveries, each with every try and its response code",
      security,
      params: IdParams,
      querystring: DeliveriesQuery,
      response: { 200: Type.Object({ items: Type.Array(Delivery) }, Closed), ...errors },
    },
    config: { action: 'webhook.read' },
  }, async (req) => service.deliveries(req.project!.id, req.params.id, req.query.limit));
}
