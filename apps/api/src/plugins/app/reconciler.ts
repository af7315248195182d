import fp from 'fastify-plugin';
import { Reconciler } from '@capillary/registry';

/**
 * Runs the reconciler inside the API process: every replica may run one, and a lease in Redis
 * lets only one of them work at a time. Stops with the server, handing the lease on.
 */
export default fp<{ enabled: boolean; intervalMs: number; heartbeatTtlMs: number }>(async (app, opts) => {
  if (!opts.enabled) return;
  const reconciler = new Reconciler({
    db: app.db,
    redis: app.redis,
    queues: app.queues,
    experiments: app.registry,
    predictions: app.predictions,
    heartbeatTtlMs: opts.heartbeatTtlMs,
    log: app.log,
  });
  app.addHook('onReady', async () => reconciler.start(opts.intervalMs));
  app.addHook('preClose', async () => reconciler.stop());
}, { name: 'reconciler', dependencies: ['services'] });
