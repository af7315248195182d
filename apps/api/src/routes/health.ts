import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { headBucket } from '@capillary/storage';

const Health = Type.Object({
  status: Type.Enum(['ok', 'degraded']),
  postgres: Type.Boolean(),
  redis: Type.Boolean(),
  s3: Type.Boolean(),
  unreachable: Type.Array(Type.String(), { description: 'Services that did not answer within 2 s' }),
}, { additionalProperties: false });

/** Resolves true when `check` answers within `ms`, false on an error or a timeout. */
function answers(check: () => Promise<unknown>, ms = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    check().then(() => resolve(true), () => resolve(false)).finally(() => clearTimeout(timer));
  });
}

export default async function healthRoutes(fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get('/health', {
    schema: { summary: 'Liveness and dependency check: which services are unreachable', response: { 200: Health, 503: Health } },
    config: { rateLimit: false, action: 'public' },
  }, async (_req, reply) => {
    const [postgres, redis, s3] = await Promise.all([
      answers(() => app.db.$queryRaw`SELECT 1`),
      answers(async () => {
        if ((await app.redis.ping()) !== 'PONG') throw new Error('no PONG');
      }),
      answers(() => headBucket()),
    ]);
    const unreachable = Object.entries({ postgres, redis, s3 }).filter(([, ok]) => !ok).map(([name]) => name);
    return reply.status(unreachable.length ? 503 : 200).send({ status: unreachable.length ? 'degraded' : 'ok', postgres, redis, s3, unreachable });
  });
}
