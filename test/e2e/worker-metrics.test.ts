import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { WORKERS_KEY } from '@capillary/queue';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { freePort, startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { parsePrometheus, sampleValue } from '../prometheus.ts';

const DATASET = 'e2e-kidney';
// Queues of its own: a run another file left queued must not be what this worker picks up first.
const QUEUE_PREFIX = '{worker-metrics}';

describe('the worker serves /metrics on WORKER_METRICS_PORT and exits when idle', () => {
  let api: RunningApi;
  let worker: RunningWorker | undefined;
  let redis: Redis;
  beforeAll(async () => {
    await seedSyntheticDataset(DATASET, { seed: 7, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
    api = await startApi({ QUEUE_PREFIX });
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.close();
    redis?.disconnect();
  });

  it('times each committed epoch by backend and model, then ends with 0 after WORKER_IDLE_EXIT_MS without a run', async () => {
    const port = await freePort();
    const workerId = `metrics-worker-${Date.now()}`;
    worker = startWorker({ QUEUE_PREFIX, WORKER_ID: workerId, WORKER_METRICS_PORT: String(port), WORKER_IDLE_EXIT_MS: '4000', HOST: '127.0.0.1' });
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      return parsePrometheus(await res.text());
    };
    const first = await waitUntil('the worker metrics endpoint', () => scrape().catch(() => undefined), 60_000);
    expect(sampleValue(first, 'capillary_worker_runs', { kind: 'training' })).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);

    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'worker-metrics', epochs: 2 }));
    expect(created.status).toBe(201);
    const running = await waitUntil('the run in hand', async () => {
      const s = await scrape();
      return sampleValue(s, 'capillary_worker_runs', { kind: 'training' }) === 1 ? s : undefined;
    }, 120_000, 100);
    expect(running).toBeDefined();
    const done = await waitUntil('experiment to finish', async () => {
      const e = (await api.request('GET', `/experiments/${created.body.id}`)).body;
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 240_000, 100);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');

    const samples = await scrape();
    const labels = { backend: done.backend, model: 'unet' };
    // Only this worker's process counts: its two epochs, each a positive time, all under +Inf.
    expect(sampleValue(samples, 'capillary_epoch_duration_seconds_count', labels)).toBe(2);
    expect(sampleValue(samples, 'capillary_epoch_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(2);
    expect(sampleValue(samples, 'capillary_epoch_duration_seconds_sum', labels)).toBeGreaterThan(0);
    expect(sampleValue(samples, 'capillary_worker_runs', { kind: 'training' })).toBe(0);

    // Idle for WORKER_IDLE_EXIT_MS: it leaves on its own, cleanly, and takes its heartbeat along.
    const code = await new Promise<number | null>((resolve) => {
      if (worker!.process.exitCode !== null) return resolve(worker!.process.exitCode);
      worker!.process.once('exit', (c) => resolve(c));
    });
    expect(code).toBe(0);
    expect(await redis.hexists(WORKERS_KEY, workerId)).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });
});
