import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import type { ApiKey } from '@capillary/db';
import { HttpError } from '../../services/errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for mutating routes: a valid `Authorization: Bearer <key>` or 401. */
    requireApiKey: (req: FastifyRequest) => Promise<void>;
    /** The request's valid, unrevoked API key, or null; looked up once per request. */
    apiKeyOf: (req: FastifyRequest) => Promise<ApiKey | null>;
  }
  interface FastifyRequest {
    /** Set by requireApiKey: the key the request is made with. */
    apiKey: ApiKey | null;
  }
}

const BEARER = /^Bearer\s+(\S+)$/i;

export default fp(async (app) => {
  // The rate limiter (onRequest) and requireApiKey (preHandler) both ask: one lookup serves both.
  const lookups = new WeakMap<FastifyRequest, Promise<ApiKey | null>>();
  app.decorateRequest('apiKey', null);
  app.decorate('apiKeyOf', (req: FastifyRequest) => {
    let lookup = lookups.get(req);
    if (!lookup) {
      const m = BEARER.exec(req.headers.authorization ?? '');
      lookup = m ? app.apiKeys.verify(m[1]) : Promise.resolve(null);
      lookups.set(req, lookup);
    }
    return lookup;
  });
  app.decorate('requireApiKey', async (req: FastifyRequest) => {
    if (!BEARER.test(req.headers.authorization ?? '')) throw new HttpError(401, 'authorization: an API key is required (Authorization: Bearer <key>)');
    const key = await app.apiKeyOf(req);
    if (!key) throw new HttpError(401, 'authorization: the API key is not valid');
    req.apiKey = key;
  });
}, { name: 'auth', dependencies: ['services'] });
