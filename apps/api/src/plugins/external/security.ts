import fp from 'fastify-plugin';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';

/** Security headers and per-client rate limiting. */
export default fp<{ rateLimitMax: number }>(async (app, opts) => {
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
  await app.register(rateLimit, { max: opts.rateLimitMax, timeWindow: '1 minute' });
}, { name: 'security' });
