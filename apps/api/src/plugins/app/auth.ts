import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { HttpError } from '../../services/errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for mutating routes: a valid `Authorization: Bearer <key>` or 401. */
    requireApiKey: (req: FastifyRequest) => Promise<void>;
  }
}

export default fp(async (app) => {
  app.decorate('requireApiKey', async (req: FastifyRequest) => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new HttpError(401, 'authorization: an API key is required (Authorization: Bearer <key>)');
    if (!(await app.apiKeys.verify(m[1]))) throw new HttpError(401, 'authorization: the API key is not valid');
  });
}, { name: 'auth', dependencies: ['services'] });
