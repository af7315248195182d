// Helpers for tests that need the real services: the API in-process, workers as child processes,
// datasets in the local S3. The stack itself comes from test/global-setup.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from '@capillary/contracts';
import { prisma } from '@capillary/db';
import type { buildApp } from '../apps/api/src/app.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface RunningApi {
  url: string;
  key: string;
  /** The server itself, for tests that look at its counters (open streams, caches). */
  app: Awaited<ReturnType<typeof buildApp>>;
  close(): Promise<void>;
  /** fetch against the API with the JSON body and, unless `auth: false`, the API key. */
  request(method: string, route: string, body?: unknown, opts?: { auth?: boolean; headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: any }>;
}

/** Starts the API in this process on a free loopback port, with a fresh API key. */
export async function startApi(overrides: Record<string, string> = {}): Promise<RunningApi> {
  const { buildApp } = await import('../apps/api/src/app.ts');
  // No reconciler unless a test asks for one: fixtures write rows no queue knows of. No rate limits
  // either: their counters live in Redis and would carry over from one test file to the next.
  const env = parseEnv({ ...process.env, PORT: '0', LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000', VIEWER_RATE_LIMIT_MAX: '100000', VOLUME3D_RATE_LIMIT_MAX: '100000', SSE_RATE_LIMIT_MAX: '100000', RECONCILER: 'false', ...overrides });
  const app = await buildApp({ env, db: prisma(), logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const { key } = await app.apiKeys.create('test');
  return {
    url,
    key,
    app,
    close: () => app.close(),
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
  const { RATE_LIMIT_PREFIX } = await import('../apps/api/src/plugins/external/security.ts');
  const redis = new Redis(process.env.REDIS_URL!);
  try {
    const keys = await redis.keys(`${RATE_LIMIT_PREFIX}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
