import fp from 'fastify-plugin';
import type { PrismaClient } from '@capillary/db';
import type { CostLimits } from '@capillary/contracts';
import { EventPublisher, EventSubscriber, JobQueues, redisConnection, type RedisClient } from '@capillary/queue';
import { ExperimentRegistry, PredictionRegistry, webhookDispatch } from '@capillary/registry';
import { ExperimentService } from '../../services/experiments.ts';
import { SweepService } from '../../services/sweeps.ts';
import { Admission } from '../../services/admission.ts';
import { ApiKeyService } from '../../services/api-keys.ts';
import { PredictionService } from '../../services/predictions.ts';
import type { QuotaLimits } from '../../services/quota.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: PrismaClient;
    redis: RedisClient;
    queues: JobQueues;
    events: EventSubscriber;
    experiments: ExperimentService;
    sweeps: SweepService;
    predictions: PredictionRegistry;
    predictionService: PredictionService;
    registry: ExperimentRegistry;
    apiKeys: ApiKeyService;
    /** Cost budgets and quotas from the environment. */
    limits: CostLimits & QuotaLimits;
  }
}

/** Connections and repositories, created once per server and closed with it. */
/** `redisCluster`: `redisUrl` lists Redis Cluster seed nodes; `queuePrefix`: of every BullMQ key. */
export default fp<{ db: PrismaClient; redisUrl: string; redisCluster: boolean; queuePrefix: string; limits: CostLimits & QuotaLimits }>(async (app, opts) => {
  const redis = redisConnection(opts.redisUrl, { failFast: true, cluster: opts.redisCluster });
  // An unreachable Redis is reported by /health and as 503s, not as an unhandled error event.
  redis.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'));
  const queues = new JobQueues(redis, (err) => app.log.warn({ err: err.message }, 'queue error'), opts.queuePrefix);
  const publisher = new EventPublisher(redis);
  const subscriber = redisConnection(opts.redisUrl, { cluster: opts.redisCluster });
  subscriber.on('error', (err) => app.log.warn({ err: err.message }, 'redis subscriber error'));
  const events = new EventSubscriber(subscriber);
  app.decorate('db', opts.db);
  app.decorate<RedisClient, 'redis'>('redis', redis);
  app.decorate('queues', queues);
  app.decorate('events', events);
  // A cancel or a reconciler's failForGood may end a sweep: its webhook deliveries are queued after the commit.
  const registry = new ExperimentRegistry(opts.db, webhookDispatch(queues, app.log));
  app.decorate('registry', registry);
  const predictions = new PredictionRegistry(opts.db);
  app.decorate('predictions', predictions);
  app.decorate('predictionService', new PredictionService(predictions, queues, publisher));
  const admission = new Admission(opts.db, opts.limits);
  app.decorate('experiments', new ExperimentService(opts.db, registry, queues, publisher, opts.limits, admission));
  app.decorate('sweeps', new SweepService(opts.db, registry, queues, opts.limits, admission));
  app.decorate('apiKeys', new ApiKeyService(opts.db));
  app.decorate('limits', opts.limits);
  app.addHook('onClose', async () => {
    await queues.close();
    await events.close();
    redis.disconnect();
  });
}, { name: 'services' });
