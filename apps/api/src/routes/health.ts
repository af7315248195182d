import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

const Health = Type.Object({ status: Type.String(), postgres: Type.Boolean(), redis: Type.Boolean() }, { additionalProperties: false });

export default async function healthRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/health', {
    schema: {
      summary: 'Liveness and dependency check',
      response: { 200: Health, 503: Health },
    },
    config: { rateLimit: false },
  }, async (_req, reply) => {
    const [postgres, redis] = await Promise.all([
      app.db.$queryRaw`SELECT 1`.then(() => true, () => false),
      app.redis.ping().then((r) => r === 'PONG', () => false),
    ]);
    const ok = postgres && redis;
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', postgres, redis });
  });
}
