import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import type { CostLimits } from '@capillary/contracts';
import { Reconciler } from '@capillary/registry';

/**
 * Runs the reconciler inside the API process: every replica may run one, and a lease in Redis
 * lets only one of them work at a time. Stops with the server, handing the lease on.
 */
export default fp<{ enabled: boolean; intervalMs: number; heartbeatTtlMs: number; limits: CostLimits }>(async (app, opts) => {
  if (!opts.enabled) return;
  // Set by the leader's passes only: across replicas, max() is the last pass anyone made (the
  // alert "reconciler not running" in infra/monitoring).
  const lastPass = new Gauge({
    name: 'capillary_reconciler_last_pass_timestamp_seconds',
    help: 'Unix time of the last reconcile pass this API process made as the leader (0: none yet)',
    registers: [app.metrics],
  });
  const reconciler = new Reconciler({
    db: app.db,
    redis: app.redis,
    queues: app.queues,
    experiments: app.registry,
    predictions: app.predictions,
    heartbeatTtlMs: opts.heartbeatTtlMs,
    limits: opts.limits,
    log: app.log,
    onPass: () => lastPass.set(Date.now() / 1000),
  });
  app.addHook('onReady', async () => reconciler.start(opts.intervalMs));
  app.addHook('preClose', async () => reconciler.stop());
}, { name: 'reconciler', dependencies: ['services', 'metrics'] });
