import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { KeyAdmin } from '../services/key-admin.ts';
import { Closed, IdParams, Key, Name, NewKey, ProjectParams, Scope, errors, security } from './admin-schemas.ts';

const KeyList = Type.Object({ items: Type.Array(Key) }, Closed);
export const ProjectKeyParams = Type.Object({ project: Name('project'), id: Type.String({ format: 'uuid' }) });
export const KeyRequest = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100, description: 'who or what the key is for' }),
  project: Type.Optional(Name('project')),
  scope: Type.Optional(Scope),
  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
}, { ...Closed, description: "Unset scope and expiry are the calling key's own; a key limited to a project must name it" });

/**
 * API keys: each user creates, lists, revokes and rotates their own (`self`); a project's admins
 * list (`key.list`) and revoke (`key.manage`) the keys that act in their project.
 */
export default async function keyRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const keys = new KeyAdmin(app.db, app.apiKeys);

  app.post('/keys', {
    schema: {
      summary: 'Create an API key of your own, optionally limited to one of your projects, read-only, or expiring; the key is shown once',
      security,
      body: KeyRequest,
      response: { 201: NewKey, ...errors },
    },
    config: { action: 'self' },
  }, async (req, reply) => reply.status(201).send(await keys.create(req.principal!, req.body)));

  app.get('/keys', {
    schema: { summary: 'Your API keys (a key limited to a project lists only those limited to it)', security, response: { 200: KeyList, ...errors } },
    config: { action: 'self' },
  }, async (req) => ({ items: await keys.own(req.principal!) }));

  app.delete('/keys/:id', {
    schema: { summary: 'Revoke one of your API keys', security, params: IdParams, response: { 200: Key, ...errors } },
    config: { action: 'self' },
  }, async (req) => keys.revokeOwn(req.principal!, req.params.id));

  app.post('/keys/:id/rotate', {
    schema: {
      summary: 'Revoke one of your API keys and issue its replacement, with the same name, project, scope and expiry; the new key is shown once',
      security,
      params: IdParams,
      response: { 201: NewKey, ...errors },
    },
    config: { action: 'self' },
  }, async (req, reply) => reply.status(201).send(await keys.rotateOwn(req.principal!, req.params.id)));

  app.get('/projects/:project/keys', {
    schema: { summary: "The keys acting in a project: those limited to it and its members' unlimited ones (the project's admins)", security, params: ProjectParams, response: { 200: KeyList, ...errors } },
    config: { action: 'key.list' },
  }, async (req) => ({ items: await keys.projectKeys(req.project!.id) }));

  app.delete('/projects/:project/keys/:id', {
    schema: {
      summary: "Revoke a key acting in a project (the project's admins); another project's key is a 404",
      security,
      params: ProjectKeyParams,
      response: { 200: Key, ...errors },
    },
    config: { action: 'key.manage' },
  }, async (req) => keys.revokeProjectKey(req.project!.id, req.params.id));
}
