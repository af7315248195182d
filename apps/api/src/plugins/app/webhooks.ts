import fp from 'fastify-plugin';
import { Worker } from 'bullmq';
import { JOBS } from '@capillary/contracts';
import { redisConnection } from '@capillary/queue';
import { WebhookRegistry } from '@capillary/registry';
import { bullmqTelemetry } from '@capillary/telemetry';
import { WebhookDelivery } from '../../services/webhook-delivery.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Webhook endpoints and deliveries (packages/registry webhook-registry.ts). */
    webhooks: WebhookRegistry;
  }
}

/** How long a shutdown waits for the delivery worker to close before cutting its connection. */
const CLOSE_WAIT_MS = 5000;

export interface WebhookPluginOptions {
  /** Post deliveries from this process (WEBHOOK_DELIVERY). */
  deliver: boolean;
  redisUrl: string;
  redisCluster: boolean;
  queuePrefix: string;
  concurrency: number;
  timeoutMs: number;
}

/**
 * Webhook deliveries are posted by the API processes, not the training workers: the API is always
 * up (workers scale to zero and are GPU machines), a delivery is one short HTTP call, and a run
 * never shares its process with a slow receiver. Every replica may take deliveries; the per-endpoint
 * order does not depend on which one does (WebhookDelivery).
 */
export default fp<WebhookPluginOptions>(async (app, opts) => {
  const hooks = new WebhookRegistry(app.db);
  app.decorate('webhooks', hooks);
  if (!opts.deliver) return;
  // BullMQ's blocking fetches need a connection of their own that retries forever.
  const connection = redisConnection(opts.redisUrl, { cluster: opts.redisCluster });
  connection.on('error', (err) => app.log.warn({ err: err.message }, 'webhook redis connection error'));
  const delivery = new WebhookDelivery(hooks, app.queues.queue('webhook'), opts.timeoutMs);
  let worker: Worker | undefined;
  app.addHook('onReady', async () => {
    worker = new Worker(JOBS.webhook.queue, (job, token) => delivery.process(job, token), {
      connection, prefix: opts.queuePrefix, concurrency: opts.concurrency, telemetry: bullmqTelemetry(),
    });
    worker.on('error', (err) => app.log.warn({ err: err.message }, 'webhook worker error'));
    worker.on('failed', (job, err) => app.log.info({ deliveryId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'webhook try failed'));
  });
  app.addHook('preClose', async () => {
    // With Redis unreachable a worker's close waits for a connection that never comes (and the
    // API could not shut down): give it a moment to finish in-flight posts, then cut the connection.
    const closing = worker?.close().catch((err: Error) => app.log.warn({ err: err.message }, 'webhook worker close failed'));
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())]);
    connection.disconnect();
  });
}, { name: 'webhooks', dependencies: ['services'] });
