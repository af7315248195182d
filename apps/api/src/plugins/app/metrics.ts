import fp from 'fastify-plugin';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOBS, type JobKind } from '@capillary/contracts';
import { liveWorkers } from '@capillary/queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** This server's Prometheus registry (one per server, so tests can run several in one process). */
    metrics: Registry;
  }
}

/** BullMQ states that say how much work waits or runs; KEDA scales the workers on wait + prioritized. */
export const QUEUE_STATES = ['wait', 'prioritized', 'delayed', 'active', 'failed'] as const;
const EXPERIMENT_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'paused', 'stopped', 'held'] as const;

/** Seconds; from a cached health check to a slow 3D preview. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Prometheus metrics of the API: queue depth per state, experiments per status and live workers
 * per backend, read from Redis and Postgres when scraped, and the latency of every request. Labels
 * are route templates, states and backend names only: no ids, keys, hosts or query strings.
 */
export default fp<{ heartbeatTtlMs: number }>(async (app, opts) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'capillary_api_' });
  // A source that does not answer is reported as 0 here instead of failing the whole scrape; its
  // gauges stay empty, so a scaler sees no value rather than a false zero. The registry starts
  // every collection at once, in order: registered last, this one waits for the reads before it.
  const reads = new Map<string, Promise<boolean>>();
  const sourceRead = async (source: string, read: () => Promise<void>) => {
    const done = read().then(() => true, (err: Error) => {
      app.log.warn({ err: err.message, source }, 'metrics source unreadable');
      return false;
    });
    reads.set(source, done);
    await done;
  };
  const up = new Gauge({
    name: 'capillary_metrics_source_up',
    help: 'Whether this scrape could read this source',
    labelNames: ['source'],
    registers: [],
    async collect() {
      const pending = [...reads];
      reads.clear();
      for (const [source, done] of pending) this.set({ source }, (await done) ? 1 : 0);
    },
  });

  new Gauge({
    name: 'capillary_queue_jobs',
    help: 'BullMQ jobs per queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await sourceRead('redis', async () => {
        for (const kind of Object.keys(JOBS) as JobKind[]) {
          const counts = await app.queues.queue(kind).getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) this.set({ queue: JOBS[kind].queue, state }, counts[state] ?? 0);
        }
      });
    },
  });

  new Gauge({
    name: 'capillary_experiments',
    help: 'Experiments per status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      await sourceRead('postgres', async () => {
        const rows = await app.db.experiment.groupBy({ by: ['status'], _count: { _all: true } });
        for (const status of EXPERIMENT_STATUSES) this.set({ status }, rows.find((r) => r.status === status)?._count._all ?? 0);
      });
    },
  });

  new Gauge({
    name: 'capillary_workers_alive',
    help: 'Workers heard from within HEARTBEAT_TTL_MS, per tfjs backend',
    labelNames: ['backend'],
    registers: [registry],
    async collect() {
      this.reset();
      await sourceRead('heartbeats', async () => {
        const perBackend = new Map<string, number>();
        for (const w of await liveWorkers(app.redis, opts.heartbeatTtlMs)) perBackend.set(w.backend, (perBackend.get(w.backend) ?? 0) + 1);
        for (const [backend, n] of perBackend) this.set({ backend }, n);
      });
    },
  });

  const http = new Histogram({
    name: 'capillary_http_request_duration_seconds',
    help: 'API request latency by route template, method and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    // The template, never the URL: ids and query strings would make a series per request.
    const route = req.routeOptions.url ?? 'unmatched';
    http.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  registry.registerMetric(up);
  app.decorate('metrics', registry);
}, { name: 'metrics', dependencies: ['services'] });
