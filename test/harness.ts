// Helpers for tests that need the real services: the API in-process, workers as child processes,
// datasets in the local S3. The stack itself comes from test/global-setup.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import type { buildApp } from '@capillary/api';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RunningApi {
  url: string;
  key: string;
  /** The user the key belongs to: admin of the `default` project. */
  userId: string;
  /** The server itself, for tests that look at its counters (open streams, caches). */
  app: Awaited<ReturnType<typeof buildApp>>;
  close(): Promise<void>;
  /** fetch of a route with the API key (reads need one too), for tests that read raw bytes or headers. */
  fetch(route: string, init?: RequestInit): Promise<Response>;
  /** fetch against the API with the JSON body and, unless `auth: false`, the API key. */
  request(method: string, route: string, body?: unknown, opts?: { auth?: boolean; headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: any }>;
}

/** Starts the API in this process on a free loopback port, with a fresh API key. */
export async function startApi(overrides: Record<string, string> = {}): Promise<RunningApi> {
  const { buildApp } = await import('@capillary/api');
  // No reconciler unless a test asks for one: fixtures write rows no queue knows of. No rate limits
  // either: their counters live in Redis and would carry over from one test file to the next.
  const env = parseEnv({ ...process.env, PORT: '0', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', VIEWER_RATE_LIMIT_MAX: '100000', VOLUME3D_RATE_LIMIT_MAX: '100000', SSE_RATE_LIMIT_MAX: '100000', RECONCILER: 'false', ...overrides });
  const app = await buildApp({ env, db: prisma(), logger: false });
  await app.listen({ host: '127.0.0.1', port: env.PORT });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const { key, userId } = await app.apiKeys.create('test');
  return {
    url,
    key,
    userId,
    app,
    close: () => app.close(),
    fetch: (route, init = {}) => fetch(`${url}${route}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) } }),
    async request(method, route, body, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.auth !== false) headers.authorization = `Bearer ${key}`;
      let payload: string | undefined = opts.raw;
      if (body !== undefined) payload = JSON.stringify(body);
      if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${route}`, { method, headers, body: payload });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed };
    },
  };
}

export interface RunningWorker {
  process: ChildProcess;
  /** Lines the worker wrote, for assertions and for debugging a failed test. */
  output: string[];
  stop(): Promise<void>;
}

/** Starts a worker as a child process with the test stack's environment. */
export function startWorker(env: Record<string, string> = {}): RunningWorker {
  return spawnWorker(
    { LOG_LEVEL: 'info', QUEUE_LOCK_DURATION_MS: '4000', QUEUE_STALLED_INTERVAL_MS: '2000', TFJS_BACKEND: process.env.TFJS_BACKEND ?? 'auto', ...env },
    ['--unhandled-rejections=strict'],
  );
}

/**
 * A worker process with this process's environment plus `env`, started with `nodeArgs` (flags such
 * as --cpu-prof, which NODE_OPTIONS refuses); its output is kept for assertions and debugging.
 */
export function spawnWorker(env: Record<string, string>, nodeArgs: string[] = []): RunningWorker {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(REPO_ROOT, 'apps/worker/src/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  // WORKER_LOG_DIR keeps every worker's output in a file, for reading a failed drill afterwards.
  const file = process.env.WORKER_LOG_DIR ? createWriteStream(path.join(process.env.WORKER_LOG_DIR, `${env.WORKER_ID ?? child.pid}.log`), { flags: 'a' }) : null;
  if (file) child.once('exit', () => file.end());
  const collect = (d: Buffer) => {
    file?.write(d);
    output.push(...d.toString().split('\n').filter(Boolean));
    if (output.length > 2000) output.splice(0, output.length - 2000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return {
    process: child,
    output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

/** Polls until `check` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000, everyMs = 250): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** A tiny experiment that trains in seconds on a CPU. */
export function tinySpec(dataset: string, over: Record<string, unknown> = {}) {
  return { dataset, model: 'unet', epochs: 2, lr: 0.003, augmentationP: 0.2, batchSize: 2, tileSize: 32, stepsPerEpoch: 3, baseFilters: 4, depth: 2, ...over };
}

/** Forgets every rate-limit counter, so a test of low limits starts, and leaves, with none spent. */
export async function resetRateLimits(): Promise<void> {
  const { Redis } = await import('ioredis');
  const { RATE_LIMIT_PREFIX } = await import('@capillary/queue');
  const redis = new Redis(process.env.REDIS_URL!);
  try {
    const keys = await redis.keys(`${RATE_LIMIT_PREFIX}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/**
 * An experiment trained here, in this process, for one short epoch on the first volume of
 * `dataset`, with its checkpoint committed through the registry: something to predict with.
 */
export async function trainedExperiment(dataset: string, over: Record<string, unknown> = {}): Promise<string> {
  const { randomUUID } = await import('node:crypto');
  const { Value } = await import('typebox/value');
  const { ExperimentSpec } = await import('@capillary/contracts');
  const { train } = await import('@capillary/engine');
  const { ExperimentRegistry } = await import('@capillary/registry');
  const { checkpointKey } = await import('@capillary/storage');
  const { putObject } = await import('@capillary/storage');
  const { openVolume } = await import('@capillary/volumes');
  const { sha256 } = await import('@capillary/worker');
  const db = prisma();
  const ds = await db.dataset.findUniqueOrThrow({ where: { name: dataset }, include: { volumes: { orderBy: { name: 'asc' } } } });
  const spec = Value.Default(ExperimentSpec, { dataset, model: 'unet', epochs: 1, lr: 0.01, tileSize: 16, batchSize: 2, stepsPerEpoch: 2, baseFilters: 4, depth: 2, slices: 3, ...over }) as import('@capillary/contracts').ExperimentSpec;
  const experiments = new ExperimentRegistry(db);
  const id = randomUUID();
  // The run has no job: a heartbeat that holds it keeps any API's reconciler from handing it back.
  const { HeartbeatWriter, redisConnection } = await import('@capillary/queue');
  const redis = redisConnection();
  const beat = new HeartbeatWriter(redis, () => ({ id: `trained-experiment-${id}`, backend: 'test', concurrency: 1, running: [id], pid: process.pid, host: 'test' }), 1000);
  await beat.start();
  try {
    await trainOne();
  } finally {
    await beat.stop();
    redis.disconnect();
  }
  return id;

  async function trainOne() {
    await experiments.create({ id, spec, datasetId: ds.id, model: spec.model, encoder: spec.encoder, inputMode: spec.slices > 1 ? '2.5d' : '2d', epochs: spec.epochs, lr: spec.lr, augmentationP: spec.augmentationP, batchSize: spec.batchSize, seed: spec.seed });
    const { fence } = await experiments.openAttempt(id, 'test');
    await train({
      spec, train: [openVolume(ds.volumes[0])], validation: [],
      onEpoch: async (r, bytes) => {
        const s3Key = checkpointKey(id, r.epoch, fence.attempt);
        await putObject(s3Key, bytes);
        await experiments.commitEpoch(fence, { ...r, surfaceDice: 0.1, checkpoint: { s3Key, bytes: bytes.byteLength, sha256: sha256(bytes) } });
      },
    });
    await experiments.succeed(fence);
  }
}

/** Every mask array (bytes, in output order) and the CSV of a succeeded prediction. */
export async function predictionBytes(predictionId: string): Promise<{ masks: Buffer[]; csv: Buffer; outputs: Array<{ volume: string; surfaceDice: number | null; dice: number | null; foregroundVoxels: number }> }> {
  const { getObject } = await import('@capillary/storage');
  const { openVolume } = await import('@capillary/volumes');
  const row = await prisma().prediction.findUniqueOrThrow({ where: { id: predictionId } });
  const outputs = row.outputs as Array<{ volume: string; maskKey: string; shape: [number, number, number]; surfaceDice: number | null; dice: number | null; foregroundVoxels: number }>;
  const masks = await Promise.all(outputs.map(async (o) => {
    const reader = openVolume({ id: o.maskKey, imageKey: o.maskKey, dtype: 'uint8', depth: o.shape[0], height: o.shape[1], width: o.shape[2], stats: {} }, { cache: null });
    return Buffer.from(await reader.readImageBox({ z0: 0, z1: o.shape[0], y0: 0, y1: o.shape[1], x0: 0, x1: o.shape[2] }));
  }));
  return { masks, csv: Buffer.from((await getObject(row.csvKey!))!), outputs };
}
