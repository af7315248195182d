import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

export default async function healthRoutes(app: FastifyInstance) {
  app.get('/health', {
    schema: {
      summary: 'Liveness and dependency check',
      response: { 200: Type.Object({ status: Type.String(), postgres: Type.Boolean(), redis: Type.Boolean() }), 503: Type.Object({ status: Type.String(), postgres: Type.Boolean(), redis: Type.Boolean() }) },
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
