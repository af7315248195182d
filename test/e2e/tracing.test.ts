// Traces through the standard OTEL_* environment and OTLP: the API and two workers run as processes
// of their own with tracing on, exporting to a receiver in this test, which holds the spans.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { ApiKeyService } from '@capillary/api';
import { JobQueues, redisConnection } from '@capillary/queue';
import { ExperimentRegistry, PredictionRegistry, Reconciler } from '@capillary/registry';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { freePort, REPO_ROOT, startWorker, tinySpec, waitUntil, type RunningWorker } from '../harness.ts';
import { startOtlpReceiver, tracingEnv, type OtlpReceiver, type ReceivedSpan } from '../otlp-receiver.ts';

const DATASET = 'e2e-kidney';
const PRODUCER = 4;
const CONSUMER = 5;

let receiver: OtlpReceiver;
let api: { url: string; key: string; process: ChildProcess; output: string[] };
const workers: RunningWorker[] = [];

/** The API as its own process (its own SDK), on a free port, with a key of a new admin of `default`. */
async function startApiProcess(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ['--unhandled-rejections=strict', '--import', 'tsx', path.join(REPO_ROOT, 'apps/api/src/server.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', RECONCILER: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => output.push(...d.toString().split('\n').filter(Boolean)));
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('the API to answer /health', async () => ((await fetch(`${url}/health`)).ok ? true : undefined), 60_000);
  const { key } = await new ApiKeyService(prisma()).create(`tracing ${Date.now()}`);
  return { url, key, process: child, output };
}

const post = (route: string, body: unknown) =>
  fetch(`${api.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${api.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const statusOf = async (id: string) => (await prisma().experiment.findUniqueOrThrow({ where: { id }, select: { status: true } })).status;

const inTrace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
const byId = (spans: ReceivedSpan[]) => new Map(spans.map((s) => [s.spanId, s]));
/** The names from `span` up to its root, following parent ids within `spans`. */
function ancestry(span: ReceivedSpan, spans: ReceivedSpan[]): ReceivedSpan[] {
  const index = byId(spans);
  const chain = [span];
  for (let p = span.parentSpanId; p; p = index.get(p)?.parentSpanId) {
    const parent = index.get(p);
    if (!parent) throw new Error(`span ${span.name}: parent ${p} was not received`);
    chain.push(parent);
  }
  return chain;
}
const isUnder = (span: ReceivedSpan, ancestor: ReceivedSpan, spans: ReceivedSpan[]) => ancestry(span, spans).some((s) => s.spanId === ancestor.spanId);

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 7, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  receiver = await startOtlpReceiver();
  api = await startApiProcess(tracingEnv(receiver, 'capillary-api'));
});
// Each test's workers go with it: a worker left running would take the next test's run.
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  if (api?.process.exitCode === null) {
    const exited = new Promise((r) => api.process.once('exit', r));
    api.process.kill('SIGTERM');
    await exited;
  }
  await receiver?.close();
});

describe('OpenTelemetry traces', () => {
  it('follow one experiment from its POST through the queue, the worker, its sandbox epochs, S3 and the registry to success', async () => {
    const worker = startWorker(tracingEnv(receiver, 'capillary-worker'));
    workers.push(worker);
    const res = await post('/experiments', tinySpec(DATASET, { name: 'traced', epochs: 2 }));
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await waitUntil('the traced experiment to succeed', async () => ((await statusOf(id)) === 'succeeded' ? true : undefined), 240_000);

    // The request's span, and everything in its trace once the worker's last spans are exported.
    const request = await waitUntil('the POST /experiments span', async () =>
      receiver.spans.find((s) => s.service === 'capillary-api' && s.name === 'request' && s.attributes['http.route'] === '/experiments' && s.attributes['http.request.method'] === 'POST'));
    const attempt = await waitUntil('the attempt span', async () =>
      receiver.spans.find((s) => s.name === 'experiment.attempt' && s.attributes['capillary.experiment.id'] === id));
    expect(attempt.traceId).toBe(request.traceId);
    const spans = await waitUntil('the succeed transaction after the sandbox', async () => {
      const all = inTrace(request.traceId);
      const sandbox = all.find((s) => s.name === 'sandbox.train');
      return sandbox && all.some((s) => s.name === 'prisma:client:transaction' && s.startNs > sandbox.endNs && isUnder(s, attempt, all)) ? all : undefined;
    }, 30_000);

    // API: the POST's span holds the registry's transaction and the BullMQ `add`.
    const add = spans.find((s) => s.kind === PRODUCER && s.name.startsWith('add training'));
    expect(add, 'the BullMQ add span').toBeDefined();
    expect(add!.service).toBe('capillary-api');
    expect(isUnder(add!, request, spans)).toBe(true);
    expect(spans.some((s) => s.service === 'capillary-api' && s.name === 'prisma:client:transaction' && isUnder(s, request, spans))).toBe(true);

    // Worker: `process` continues from `add`; the attempt, the sandbox and each epoch nest in it.
    const processSpan = spans.find((s) => s.kind === CONSUMER && s.service === 'capillary-worker');
    expect(processSpan!.parentSpanId).toBe(add!.spanId);
    expect(isUnder(attempt, processSpan!, spans)).toBe(true);
    const sandbox = spans.find((s) => s.name === 'sandbox.train')!;
    expect(sandbox.parentSpanId).toBe(attempt.spanId);
    const epochs = spans.filter((s) => s.name === 'epoch').sort((a, b) => Number(a.attributes['capillary.epoch']) - Number(b.attributes['capillary.epoch']));
    expect(epochs.map((e) => e.attributes['capillary.epoch'])).toEqual([1, 2]);
    for (const epoch of epochs) {
      expect(epoch.parentSpanId).toBe(sandbox.spanId);
      expect(epoch.status).not.toBe(2);
      const inside = spans.filter((s) => s.parentSpanId && isUnder(s, epoch, spans) && s !== epoch);
      // The checkpoint goes to S3 and the epoch is committed in one transaction, both within the epoch.
      expect(inside.some((s) => s.name === 'S3.PutObject' && String(s.attributes['aws.s3.key']).includes(id))).toBe(true);
      expect(inside.some((s) => s.name === 'prisma:client:transaction')).toBe(true);
    }
    expect(epochs[0].endNs <= epochs[1].startNs).toBe(true);
    // Every span of the run is one trace: nothing of it started a trace of its own.
    expect(spans.filter((s) => s.service === 'capillary-worker' && s.name === 'experiment.attempt')).toHaveLength(1);
    // The worker's log lines carry the trace id.
    expect(worker.output.some((l) => l.includes(`"trace_id":"${request.traceId}"`))).toBe(true);
    // The request's own span is the run's origin, kept on its row.
    const row = await prisma().experiment.findUniqueOrThrow({ where: { id }, select: { traceparent: true } });
    expect(row.traceparent).toMatch(new RegExp(`^00-${request.traceId}-[0-9a-f]{16}-0[01]$`));
  });

  it('survives a hand-over: the second attempt continues the trace and links to the request that started the run', async () => {
    const first = startWorker({ ...tracingEnv(receiver, 'capillary-worker'), WORKER_ID: `traced-first-${Date.now()}` });
    workers.push(first);
    const res = await post('/experiments', tinySpec(DATASET, { name: 'traced-hand-over', epochs: 3, stepsPerEpoch: 6 }));
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const row = await prisma().experiment.findUniqueOrThrow({ where: { id }, select: { traceparent: true } });
    const [, originTrace, originSpan] = row.traceparent!.split('-');
    // One epoch committed, then SIGTERM: the worker hands the run back and exits.
    await waitUntil('a committed epoch', async () => ((await prisma().epochMetric.count({ where: { experimentId: id } })) >= 1 ? true : undefined), 240_000);
    await first.stop();
    expect(first.process.exitCode).toBe(0);
    workers.push(startWorker({ ...tracingEnv(receiver, 'capillary-worker'), WORKER_ID: `traced-second-${Date.now()}` }));
    await waitUntil('the handed-over experiment to succeed', async () => ((await statusOf(id)) === 'succeeded' ? true : undefined), 240_000);

    const attempts = await waitUntil('both attempts\' spans', async () => {
      const found = receiver.spans.filter((s) => s.name === 'experiment.attempt' && s.attributes['capillary.experiment.id'] === id);
      return found.length === 2 ? found.sort((a, b) => Number(a.attributes['capillary.attempt']) - Number(b.attributes['capillary.attempt'])) : undefined;
    }, 30_000);
    expect(attempts.map((a) => a.attributes['capillary.attempt'])).toEqual([1, 2]);
    // The first ended handed over (its span says why); the second resumed after the committed epoch.
    expect(attempts[0].status).toBe(2);
    for (const attempt of attempts) {
      expect(attempt.traceId).toBe(originTrace);
      expect(attempt.links).toContainEqual(expect.objectContaining({ traceId: originTrace, spanId: originSpan }));
    }
    const resumed = receiver.spans.find((s) => s.name === 'sandbox.train' && s.parentSpanId === attempts[1].spanId);
    expect(Number(resumed!.attributes['capillary.resumed_from_epoch'])).toBeGreaterThanOrEqual(1);
  });

  it('links the attempt of a job the reconciler re-created, which starts a trace of its own, to the request', async () => {
    const res = await post('/experiments', tinySpec(DATASET, { name: 'traced-recreated', epochs: 1 }));
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const row = await prisma().experiment.findUniqueOrThrow({ where: { id }, select: { traceparent: true } });
    const [, originTrace, originSpan] = row.traceparent!.split('-');
    // The job is lost (as when Redis lost its data); the reconciler, untraced here, makes it again.
    const redis = redisConnection();
    const queues = new JobQueues(redis);
    try {
      expect(await queues.queue('training').remove(id)).toBe(1);
      const reconciler = new Reconciler({ db: prisma(), redis, queues, experiments: new ExperimentRegistry(prisma()), predictions: new PredictionRegistry(prisma()), heartbeatTtlMs: 5_000, graceMs: 0 });
      expect((await reconciler.pass())?.enqueued).toBe(1);
      await reconciler.stop();
    } finally {
      await queues.close();
      redis.disconnect();
    }
    workers.push(startWorker(tracingEnv(receiver, 'capillary-worker')));
    await waitUntil('the re-created experiment to succeed', async () => ((await statusOf(id)) === 'succeeded' ? true : undefined), 240_000);

    const attempt = await waitUntil('the attempt span', async () =>
      receiver.spans.find((s) => s.name === 'experiment.attempt' && s.attributes['capillary.experiment.id'] === id));
    expect(attempt.traceId).not.toBe(originTrace);
    expect(attempt.links).toContainEqual(expect.objectContaining({ traceId: originTrace, spanId: originSpan }));
    // The origin is the POST's own trace, which the API exported.
    expect(receiver.spans.some((s) => s.traceId === originTrace && s.spanId === originSpan && s.service === 'capillary-api')).toBe(true);
  });
});
