import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';

/** The Vite build of @capillary/dashboard (apps/dashboard/dist). */
export const DASHBOARD_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dashboard/dist');

/** Prefix of the dashboard's client-side routes; kept apart from the API's JSON routes of the same names. */
export const CLIENT_PREFIX = '/app';

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Capillary</title>
<h1>Capillary</h1>
<p>The dashboard has not been built. Run <code>npm run build -w @capillary/dashboard</code> in the repository, then reload this page.</p>
<p><a href="/leaderboard">Leaderboard (JSON)</a> · <a href="/docs">API docs</a></p>`;

/**
 * Serves the dashboard: hashed assets from dist/assets, and index.html for `/` and every client
 * route under /app, so a reload or a shared link lands on the right page. The build is looked for on
 * each request, so building while the API runs needs no restart.
 */
export default async function dashboardRoutes(app: FastifyInstance, opts: { dist?: string } = {}) {
  const dist = opts.dist ?? DASHBOARD_DIST;
  await app.register(fastifyStatic, {
    root: path.join(dist, 'assets'),
    prefix: '/assets/',
    // Names carry a content hash: cache them for good.
    immutable: true,
    maxAge: '365d',
    index: false,
    suppressWarning: true,
  });

  const sendIndex = (reply: FastifyReply) => {
    if (!existsSync(path.join(dist, 'index.html'))) {
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    }
    // index.html names the current hashed assets, so it must be revalidated every time.
    return reply.header('cache-control', 'no-cache').sendFile('index.html', dist, { cacheControl: false });
  };

  const hide = { schema: { hide: true }, config: { rateLimit: false, action: 'public' } } as const;
  app.get('/', hide, async (_req, reply) => sendIndex(reply));
  app.get(CLIENT_PREFIX, hide, async (_req, reply) => sendIndex(reply));
  app.get(`${CLIENT_PREFIX}/*`, hide, async (_req, reply) => sendIndex(reply));
  app.get('/favicon.svg', hide, async (_req, reply) =>
    existsSync(path.join(dist, 'favicon.svg')) ? reply.sendFile('favicon.svg', dist) : reply.callNotFound(),
  );
}
