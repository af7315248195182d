import type { FastifyInstance } from 'fastify';

/** Placeholder until the dashboard build is served here. */
export default async function dashboardRoutes(app: FastifyInstance) {
  app.get('/', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').send(
      '<!doctype html><meta charset="utf-8"><title>Capillary</title><h1>Capillary</h1><p><a href="/leaderboard">Leaderboard (JSON)</a> · <a href="/docs">API docs</a></p>',
    ),
  );
}
