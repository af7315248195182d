import Fastify, { type FastifyServerOptions } from 'fastify';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { Validator, type Env } from '@capillary/contracts';
import type { PrismaClient } from '@capillary/db';
import security from './plugins/external/security.ts';
import openapi from './plugins/external/openapi.ts';
import services from './plugins/app/services.ts';
import session from './plugins/app/session.ts';
import auth from './plugins/app/auth.ts';
import audit from './plugins/app/audit.ts';
import reconciler from './plugins/app/reconciler.ts';
import webhooks from './plugins/app/webhooks.ts';
import errors from './plugins/app/errors.ts';
import viewer from './plugins/app/viewer.ts';
import noStacks from './plugins/app/no-stacks.ts';
import metrics from './plugins/app/metrics.ts';
import healthRoutes from './routes/health.ts';
import authRoutes from './routes/auth.ts';
import experimentRoutes from './routes/experiments.ts';
import experimentEventRoutes from './routes/experiment-events.ts';
import sweepRoutes from './routes/sweeps.ts';
import leaderboardRoutes from './routes/leaderboard.ts';
import datasetRoutes from './routes/datasets.ts';
import queueRoutes from './routes/queue.ts';
import dashboardRoutes from './routes/dashboard.ts';
import volumeRoutes from './routes/volumes.ts';
import volume3dRoutes from './routes/volume-3d.ts';
import predictionRoutes from './routes/predictions.ts';
import metricsRoutes from './routes/metrics.ts';
import whoamiRoutes from './routes/whoami.ts';
import adminUserRoutes from './routes/admin-users.ts';
import adminProjectRoutes from './routes/admin-projects.ts';
import keyRoutes from './routes/keys.ts';
import auditRoutes from './routes/audit.ts';
import usageRoutes from './routes/usage.ts';
import webhookRoutes from './routes/webhooks.ts';
import { fastifyTracing, traceFields } from '@capillary/telemetry';

/** Longest path parameter the router passes on to validation. */
export const MAX_PARAM_LENGTH = 500;

export interface AppOptions {
  env: Env;
  db: PrismaClient;
  logger?: FastifyServerOptions['logger'];
}

/** Builds the API server (not listening); tests and the server entry share it. */
export async function buildApp({ env, db, logger }: AppOptions) {
  const app = Fastify({
    logger: logger ?? { level: env.LOG_LEVEL, mixin: traceFields },
    bodyLimit: 1024 * 1024,
    // Long enough that a too-long name reaches its schema and is refused by name (the default 100
    // answers 414 first); anything longer is still refused by the router.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Our own validators: no type coercion or silent removal of unknown fields in bodies, and each
    // bad field named in the error.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Behind a TLS-terminating proxy: the client's address and https come from its X-Forwarded-* headers.
    trustProxy: env.TRUST_PROXY,
  });
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const validator = new Validator(httpPart ?? 'request', schema as TSchema);
    return (value: unknown) => {
      try {
        const input = httpPart === 'body' ? value : Value.Convert(schema as TSchema, value);
        return { value: validator.parse(input) };
      } catch (error) {
        return { error: error as Error };
      }
    };
  });

  // First, so the request's span is the parent of every hook, handler, query and queued job.
  const tracing = fastifyTracing();
  if (tracing) await app.register(tracing);
  await app.register(errors);
  await app.register(noStacks);
  await app.register(services, { db, redisUrl: env.REDIS_URL, redisCluster: env.REDIS_CLUSTER, queuePrefix: env.QUEUE_PREFIX, limits: env });
  // Before auth: the session's user is one of the principals auth finds.
  const secureCookies = env.PUBLIC_URL?.startsWith('https:') ?? false;
  await app.register(session, { secret: env.SESSION_SECRET, production: env.NODE_ENV === 'production', ttlSeconds: env.SESSION_TTL_S, secure: secureCookies });
  if (secureCookies && !env.TRUST_PROXY) app.log.warn('PUBLIC_URL is https but TRUST_PROXY is false: the API sees plain http and sets no Secure session cookie, so nobody can sign in to the dashboard; set TRUST_PROXY=true behind a TLS-terminating proxy');
  await app.register(auth, { authReads: env.AUTH_READS, metricsToken: env.METRICS_TOKEN });
  await app.register(audit);
  if (env.AUTH_READS === 'open') app.log.warn('AUTH_READS=open: anyone who can reach this API reads every project, donors\' scans included; for demos only');
  await app.register(metrics, { heartbeatTtlMs: env.HEARTBEAT_TTL_MS });
  await app.register(viewer, { cacheMB: env.VIEWER_CACHE_MB, fetchConcurrency: env.VIEWER_FETCH_CONCURRENCY });
  // After services and auth: the rate limiter keeps its counters in Redis and keys them by API key.
  await app.register(security, { rateLimitMax: env.RATE_LIMIT_MAX });
  await app.register(openapi);
  await app.register(reconciler, { enabled: env.RECONCILER, intervalMs: env.RECONCILE_INTERVAL_MS, heartbeatTtlMs: env.HEARTBEAT_TTL_MS, limits: env });
  await app.register(webhooks, {
    deliver: env.WEBHOOK_DELIVERY, redisUrl: env.REDIS_URL, redisCluster: env.REDIS_CLUSTER, queuePrefix: env.QUEUE_PREFIX,
    concurrency: env.WEBHOOK_CONCURRENCY, timeoutMs: env.WEBHOOK_TIMEOUT_MS,
  });

  await app.register(healthRoutes);
  await app.register(authRoutes, {
    authReads: env.AUTH_READS,
    secure: secureCookies,
    oidc: env.OIDC_ISSUER
      ? {
          issuer: env.OIDC_ISSUER,
          clientId: env.OIDC_CLIENT_ID!,
          clientSecret: env.OIDC_CLIENT_SECRET,
          redirectUrl: env.OIDC_REDIRECT_URL ?? new URL('/auth/oidc/callback', env.PUBLIC_URL).href,
          scopes: env.OIDC_SCOPES,
          rolesClaim: env.OIDC_ROLES_CLAIM,
          production: env.NODE_ENV === 'production',
        }
      : null,
  });
  await app.register(experimentRoutes);
  await app.register(experimentEventRoutes, { env });
  await app.register(sweepRoutes);
  await app.register(leaderboardRoutes);
  await app.register(datasetRoutes);
  await app.register(queueRoutes, { heartbeatTtlMs: env.HEARTBEAT_TTL_MS });
  await app.register(predictionRoutes);
  await app.register(volumeRoutes, { env });
  await app.register(volume3dRoutes, { env });
  await app.register(dashboardRoutes);
  await app.register(metricsRoutes);
  await app.register(whoamiRoutes);
  await app.register(adminUserRoutes);
  await app.register(adminProjectRoutes);
  await app.register(keyRoutes);
  await app.register(auditRoutes);
  await app.register(usageRoutes);
  await app.register(webhookRoutes);
  return app;
}
