import type { FastifyInstance } from 'fastify';

/** Scrapers get their own, generous limit: Prometheus and KEDA often share one IP. */
const SCRAPES_PER_MINUTE = 600;

export default async function metricsRoutes(app: FastifyInstance) {
  // Scrapes that arrive together share one collection, so a burst costs Redis and Postgres one read.
  let inFlight: Promise<string> | null = null;
  const collect = () => {
    inFlight ??= app.metrics.metrics().finally(() => (inFlight = null));
    return inFlight;
  };
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics: queue depth per state, experiments per status, live workers, request latency',
      response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
    config: { rateLimit: { max: SCRAPES_PER_MINUTE, timeWindow: '1 minute' }, action: 'metrics' },
  }, async (_req, reply) => {
    const text = await collect();
    return reply.type(app.metrics.contentType).send(text);
  });
}
