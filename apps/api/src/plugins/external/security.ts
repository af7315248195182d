import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { RATE_LIMIT_PREFIX } from '@capillary/queue';

export interface SecurityOptions {
  /** Requests per minute per client on every route without its own limit (the viewer and event routes set theirs). */
  rateLimitMax: number;
}

/**
 * Security headers and per-client rate limiting. A client is the user of a valid key or session,
 * else its IP, so users behind one NAT do not starve each other, and neither more keys nor made-up
 * ones buy anything. The
 * counters live in Redis, so the limits hold across API replicas.
 */
export default fp<SecurityOptions>(async (app, opts) => {
  await app.register(helmet, {
    // The dashboard and Swagger UI load their own scripts and styles from this origin only.
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        workerSrc: ["'self'", 'blob:'],
        connectSrc: ["'self'"],
      },
    },
  });

  await app.register(rateLimit, {
    max: opts.rateLimitMax,
    timeWindow: '1 minute',
    redis: app.redis,
    nameSpace: RATE_LIMIT_PREFIX,
    // Redis down: serve (and let /health report it) rather than fail every request.
    skipOnError: true,
    keyGenerator: async (req: FastifyRequest) => {
      // Per user, so more keys buy no more requests; a bad key counts against its address.
      const principal = await app.principalOf(req).catch(() => null);
      return principal && typeof principal === 'object' && principal.userId ? `user:${principal.userId}` : `ip:${req.ip}`;
    },
  });
}, { name: 'security', dependencies: ['services', 'auth'] });
