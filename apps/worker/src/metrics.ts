import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds; tiny CPU runs take a second an epoch, real GPU epochs minutes, large CPU ones hours. */
const EPOCH_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

/**
 * The worker's Prometheus metrics: how long epochs take per tfjs backend and model, and how many
 * runs it holds. Served on WORKER_METRICS_PORT (plain node:http, one route) when that is not 0.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly epochSeconds = new Histogram({
    name: 'capillary_epoch_duration_seconds',
    help: 'Wall time of one committed epoch (training, validation, checkpoint upload and commit; the first of a sandbox also its start-up), by tfjs backend and model',
    labelNames: ['backend', 'model'],
    buckets: EPOCH_BUCKETS,
    registers: [this.registry],
  });
  private server: Server | null = null;

  /** `runsInHand`: read at scrape time, so the gauge is never stale. */
  constructor(runsInHand: () => { training: number; prediction: number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'capillary_worker_' });
    new Gauge({
      name: 'capillary_worker_runs',
      help: 'Runs this worker holds now, per kind',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        const n = runsInHand();
        this.set({ kind: 'training' }, n.training);
        this.set({ kind: 'prediction' }, n.prediction);
      },
    });
  }

  epochCommitted(backend: string, model: string, seconds: number): void {
    this.epochSeconds.observe({ backend, model }, seconds);
  }

  /** Serves GET /metrics; resolves with the port it listens on. */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
