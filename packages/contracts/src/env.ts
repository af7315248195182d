import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { Validator, ValidationError } from './validate.ts';

const Url = Type.String({ minLength: 1 });

/** Every setting a Capillary process reads from its environment. Parsed once at start-up. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Enum(['development', 'production', 'test'], { default: 'development' }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  DATABASE_URL: Url,
  REDIS_URL: Url,
  REDIS_CLUSTER: Type.Boolean({ default: false, description: 'REDIS_URL names seed nodes of a Redis Cluster (comma-separated URLs); QUEUE_PREFIX must then hold a hash tag' }),
  QUEUE_PREFIX: Type.String({ minLength: 1, default: '{capillary}', description: 'Prefix of every BullMQ key; a {hash tag} keeps each queue\'s keys in one Redis Cluster slot' }),
  S3_ENDPOINT: Url,
  S3_REGION: Type.String({ default: 'us-east-1' }),
  S3_BUCKET: Type.String({ minLength: 3, default: 'capillary' }),
  S3_ACCESS_KEY_ID: Type.String({ minLength: 1, default: 'S3RVER' }),
  S3_SECRET_ACCESS_KEY: Type.String({ minLength: 1, default: 'S3RVER' }),
  S3_FORCE_PATH_STYLE: Type.Boolean({ default: true }),
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 300, description: 'Requests per minute per user (per address without a key)' }),
  AUTH_READS: Type.Enum(['required', 'open'], { default: 'required', description: 'required: every read needs a key or a session; open (demos only): anyone may read every project, and the API warns at start-up' }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token of GET /metrics (the Prometheus scraper\'s); unset: /metrics answers 401, except with AUTH_READS=open' })),
  TRUST_PROXY: Type.Boolean({ default: false, description: 'The API sits behind a reverse proxy that terminates TLS: trust its X-Forwarded-For and X-Forwarded-Proto (the client address for rate limits, https for Secure session cookies). Never true when clients reach the API directly' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^/]+', description: 'Where users open the dashboard, e.g. https://capillary.lab.example; https makes the session cookie Secure, and the OIDC redirect URL defaults to PUBLIC_URL/auth/oidc/callback' })),
  SESSION_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'Signs the dashboard session cookie; the same on every API replica. Required when NODE_ENV=production; elsewhere, unset, each API process makes a random one (sessions then end when it restarts)' })),
  SESSION_TTL_S: Type.Integer({ minimum: 60, maximum: 2_592_000, default: 43_200, description: 'How long a dashboard session lasts after signing in, in seconds' }),
  OIDC_ISSUER: Type.Optional(Type.String({ pattern: '^https?://', description: 'OIDC issuer URL (Keycloak realm, Dex...): set, the dashboard offers single sign-on. http only for an issuer on loopback outside production' })),
  OIDC_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, description: 'The API\'s client id at the OIDC issuer' })),
  OIDC_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'The client secret; unset: a public client (PKCE only)' })),
  OIDC_REDIRECT_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'The redirect URL registered at the issuer, ending in /auth/oidc/callback; default PUBLIC_URL/auth/oidc/callback' })),
  OIDC_SCOPES: Type.String({ minLength: 1, default: 'openid profile', description: 'Scopes asked for at sign-in, space-separated; include the one that releases OIDC_ROLES_CLAIM if the issuer needs one' }),
  OIDC_ROLES_CLAIM: Type.String({ minLength: 1, default: 'capillary_roles', description: 'ID token or userinfo claim listing "project:role" values (viewer, member, admin); present, it replaces the user\'s memberships at each sign-in' }),
  MAX_STEP_MEMORY_MB: Type.Integer({ minimum: 1, default: 32768, description: 'Largest estimated peak memory of one training step a spec may need' }),
  MAX_VOXEL_STEPS: Type.Integer({ minimum: 1, default: 1e12, description: 'Largest epochs x steps x batch x tile² x slices a spec may ask for' }),
  MAX_PREDICTION_VOXEL_PASSES: Type.Integer({ minimum: 1, default: 1e12, description: 'Largest dataset voxels x axes x TTA passes a prediction may ask for' }),
  MAX_ACTIVE_PER_KEY: Type.Integer({ minimum: 1, default: 1000, description: 'Queued plus running experiments one user may have, over all their keys' }),
  WORKER_ID: Type.Optional(Type.String({ minLength: 1 })),
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'Most training trials a worker runs at once; WORKER_MEMORY_MB decides how many of those slots their estimated step memory lets it fill' }),
  WORKER_MEMORY_MB: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Memory a worker packs training trials into, in MB: it runs a trial only while the estimated step memory (MAX_STEP_MEMORY_MB\'s estimate) of its running trials plus this one fits, and hands a trial larger than all of it to other workers. Unset: the smallest GPU\'s memory when tfjs-node-gpu is installed and TFJS_BACKEND is auto or tensorflow, else half of the RAM this process may use' })),
  WORKER_METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 0, description: 'Port of the worker\'s Prometheus /metrics on HOST (0: not served)' }),
  WORKER_IDLE_EXIT_MS: Type.Integer({ minimum: 0, default: 0, description: 'A worker that holds no run for this long exits with 0, so a Kubernetes Job completes (0: never)' }),
  WORKER_SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 20000, description: 'Longest a worker spends handing its runs back on SIGTERM; past it (Redis or Postgres unreachable) it exits with 1 and its runs return as stalled jobs' }),
  QUEUE_LOCK_DURATION_MS: Type.Integer({ minimum: 1000, default: 30000 }),
  QUEUE_STALLED_INTERVAL_MS: Type.Integer({ minimum: 1000, default: 30000 }),
  QUEUE_MAX_STALLED_COUNT: Type.Integer({ minimum: 0, default: 2 }),
  RECONCILER: Type.Boolean({ default: true, description: 'Run the reconciler in this API process (one leader at a time across replicas)' }),
  RECONCILE_INTERVAL_MS: Type.Integer({ minimum: 100, default: 10000, description: 'How often the reconciler makes Redis agree with Postgres' }),
  HEARTBEAT_INTERVAL_MS: Type.Integer({ minimum: 100, default: 5000 }),
  HEARTBEAT_TTL_MS: Type.Integer({ minimum: 500, default: 20000, description: 'A worker unheard of for this long is gone' }),
  RUN_CHECK_INTERVAL_MS: Type.Integer({ minimum: 100, default: 2000, description: 'How often a worker re-reads the run it holds (durable cancel)' }),
  OUTAGE_MAX_WAIT_MS: Type.Integer({ minimum: 1000, default: 600000, description: 'How long a job waits out an outage in place before handing itself back' }),
  WORKER_PICKUP_DELAY_MS: Type.Integer({ minimum: 0, default: 0, description: 'Fault drills only: pause between taking a job and opening its attempt' }),
  PREDICT_SHARD_VOXELS: Type.Integer({ minimum: 1, default: 402_653_184, description: 'Voxel passes through the network in one prediction shard (TTA counts four a voxel); a volume that needs more is predicted by a flow of shards spread over the workers' }),
  PREDICT_MAX_SHARDS_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 1000, default: 8, description: 'Shards of one prediction queued for workers at once, so a big prediction leaves workers to other users' }),
  JOB_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 86_400_000, description: 'Longest one attempt may run (0: no limit); past it the run fails for good' }),
  JOB_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
  WEBHOOK_DELIVERY: Type.Boolean({ default: true, description: 'Post webhook deliveries from this API process (every replica may; off: another process must)' }),
  WEBHOOK_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 30, default: 12, description: 'Tries of one webhook delivery before it is recorded as failed' }),
  WEBHOOK_BACKOFF_MS: Type.Integer({ minimum: 10, default: 5000, description: 'First wait before retrying a webhook delivery; it doubles at each try (12 tries: about 3 hours in all)' }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000, description: 'How long a webhook receiver has to answer one try' }),
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'Webhook deliveries one API process posts at once (to different endpoints; one endpoint gets one at a time)' }),
  CHECKPOINT_KEEP_LAST: Type.Integer({ minimum: 1, maximum: 100000, default: 1, description: 'Newest checkpoints kept per experiment besides the best one; older ones are deleted after each commit' }),
  TFJS_BACKEND: Type.Enum(['auto', 'tensorflow', 'onednn', 'wasm', 'cpu', 'webgpu'], { default: 'auto' }),
  TFJS_THREADS: Type.Integer({ minimum: 0, maximum: 256, default: 0, description: '0 = all cores' }),
  CHUNK_CACHE_DIR: Type.String({ default: '.run/cache' }),
  CHUNK_CACHE_MAX_MB: Type.Integer({ minimum: 0, default: 2048 }),
  VIEWER_CACHE_MB: Type.Integer({ minimum: 16, default: 256, description: 'Memory of the API viewer caches (decoded chunks, slices, 3D previews)' }),
  VIEWER_FETCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 512, default: 16, description: 'Chunk fetches in flight at once for all viewer requests of one API process' }),
  VIEWER_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 1200, description: 'Viewer slice and volume requests per minute per client' }),
  VOLUME3D_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 60, description: '3D volume requests per minute per client' }),
  SSE_MAX_PER_CLIENT: Type.Integer({ minimum: 1, default: 8, description: 'Open event streams per client (IP, or API key when given)' }),
  SSE_MAX_TOTAL: Type.Integer({ minimum: 1, default: 1000, description: 'Open event streams per API process' }),
  SSE_RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 60, description: 'Event streams opened per minute per client' }),
});
export type Env = Static<typeof EnvSchema>;

const validator = new Validator('environment', EnvSchema);

/**
 * The part of a key Redis Cluster hashes, as Redis finds it: between the first `{` and the first
 * `}` after it, when that is not empty; null when the whole key is hashed.
 */
export function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/** Parses an environment; throws a ValidationError naming each bad variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const v = source[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = validator.parse(Value.Convert(EnvSchema, Value.Default(EnvSchema, picked)));
  // BullMQ's scripts touch many keys of a queue at once: on a cluster they must share one slot.
  if (parsed.REDIS_CLUSTER && hashTag(parsed.QUEUE_PREFIX) === null) {
    throw new ValidationError('environment', [{ field: '/QUEUE_PREFIX', message: 'must contain a hash tag such as {capillary} when REDIS_CLUSTER is true' }]);
  }
  // Single sign-on needs a client and a way back; half a configuration would fail only at sign-in.
  if (parsed.OIDC_ISSUER) {
    const missing = [
      ...(parsed.OIDC_CLIENT_ID ? [] : [{ field: '/OIDC_CLIENT_ID', message: 'is required when OIDC_ISSUER is set' }]),
      ...(parsed.OIDC_REDIRECT_URL || parsed.PUBLIC_URL ? [] : [{ field: '/OIDC_REDIRECT_URL', message: 'is required when OIDC_ISSUER is set and PUBLIC_URL is not' }]),
    ];
    if (missing.length) throw new ValidationError('environment', missing);
  }
  return parsed;
}


let cached: Env | undefined;
/**
 * The process's environment, parsed on first use. A bad configuration ends the process with a
 * message naming each variable, before any connection is opened.
 */
export function env(): Env {
  if (cached) return cached;
  try {
    cached = parseEnv();
  } catch (e) {
    if (e instanceof ValidationError) {
      console.error(`Capillary cannot start: ${e.message}`);
      process.exit(78);
    }
    throw e;
  }
  return cached;
}
