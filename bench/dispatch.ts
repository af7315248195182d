// `npm run bench -- dispatch`: what the queue adds, on the `bench` stack, in one run.
//  - Submit-to-start latency: `POST /experiments` (a 1-step run) until the worker reports it
//    running (its `status: running` event, after `openAttempt` committed the transition), one
//    submission at a time on an idle worker, --submissions times (default 500). Reference, in the
//    same run and interleaved with it: a raw BullMQ `add` until a bare processor in its own process
//    says it started. Both moments are taken by this process on one clock (performance.now) when
//    the pub/sub message arrives: no polling. A run is cancelled once it reported running (the
//    measured part is over) and the next submission waits until its job has ended.
//  - Pickup throughput of 1, 2, 4, 8, 16 worker processes on `probe` jobs (they only wait on S3
//    and on a Postgres `pg_sleep` of --hold-ms, default 1000), --jobs-per-worker each (default 20).
// Per submission, the segments BullMQ and the registry time-stamp (API -> add -> active ->
// transition -> report) are reported as p50/p99, to show where the time goes. Last line: one JSON
// object with p50Ms, p99Ms, rawP99Ms, p99Ratio, throughput and scalingEfficiency.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { stackProfile, stackStatus, stackUp, REPO_ROOT } from '@capillary/devstack';
import { cpuSecondsSince, cpuTicks, freePort, quantile, round, startWorker, summary, type RunningWorker } from './_dispatch-kit.ts';
import { stopProcess } from './_processes.ts';

const { values: opts } = parseArgs({
  options: {
    submissions: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '30' },
    'hold-ms': { type: 'string', default: '1000' },
    'jobs-per-worker': { type: 'string', default: '20' },
    workers: { type: 'string', default: '1,2,4,8,16' },
    // Extra node flags for the worker processes, e.g. "--worker-node-args=--cpu-prof --cpu-prof-dir=.run/prof".
    'worker-node-args': { type: 'string', default: '' },
  },
});
const SUBMISSIONS = Number(opts.submissions);
const WARMUP = Number(opts.warmup);
const HOLD_MS = Number(opts['hold-ms']);
const JOBS_PER_WORKER = Number(opts['jobs-per-worker']);
const WORKER_COUNTS = opts.workers.split(',').map(Number);
const DATASET = 'bench-dispatch';
const RAW_QUEUE = 'dispatch-raw';
const RAW_CHANNEL = 'capillary:bench:dispatch-raw';
const log = (m: string) => console.log(`[dispatch] ${m}`);

const profile = stackProfile('bench');
await stackStatus(profile);
Object.assign(process.env, await stackUp(profile, (l) => log(`stack: ${l}`)), { LOG_LEVEL: 'warn' });
const { prisma, disconnectPrisma } = await import('@capillary/db');
const { Queue, QueueEvents } = await import('bullmq');
const { JobQueues, queuePrefix, redisConnection, liveWorkers, eventChannel } = await import('@capillary/queue');
const { seedSyntheticDataset } = await import('@capillary/cli/demo');
const { ApiKeyService } = await import('@capillary/api');
const db = prisma();
const prefix = queuePrefix();

const children: ChildProcess[] = [];
const workers: RunningWorker[] = [];
const redis = redisConnection();
const subscriber = redisConnection();
const jobQueues = new JobQueues(redis);
const training = jobQueues.queue('training');
const probes = jobQueues.queue('probe');
const raw = new Queue(RAW_QUEUE, { connection: redis, prefix });
const pidFile = (f: string) => Number(readFileSync(path.join(profile.dir, f), 'utf8').split('\n')[0].trim());
const events = { training: new QueueEvents('training', { connection: redisConnection(), prefix }), probe: new QueueEvents('probe', { connection: redisConnection(), prefix }), raw: new QueueEvents(RAW_QUEUE, { connection: redisConnection(), prefix }) };
let apiKeyId: string | undefined;
/** Training jobs this run made (cancelled, so kept as failed): removed at the end. */
const trainingJobs: string[] = [];

/** Arrival time (performance.now) of the first "running" report per experiment, and of each raw start. */
const arrivals = new Map<string, number>();
const waiters = new Map<string, (t: number) => void>();
const arrived = (id: string, t: number) => {
  if (arrivals.has(id)) return;
  arrivals.set(id, t);
  waiters.get(id)?.(t);
};
subscriber.on('pmessage', (_p: string, channel: string, message: string) => {
  const t = performance.now();
  if (channel === RAW_CHANNEL) return arrived(`raw:${message}`, t);
  const e = JSON.parse(message) as { type: string; status?: string; experimentId: string };
  if (e.type === 'status' && e.status === 'running') arrived(e.experimentId, t);
});
await subscriber.psubscribe(eventChannel('*'), RAW_CHANNEL);

function arrival(id: string, timeoutMs = 30_000): Promise<number> {
  const known = arrivals.get(id);
  if (known !== undefined) return Promise.resolve(known);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start reported for ${id} within ${timeoutMs} ms`)), timeoutMs);
    waiters.set(id, (t) => {
      clearTimeout(timer);
      waiters.delete(id);
      resolve(t);
    });
  });
}

/** Ended jobs per queue, from QueueEvents (a stream read: no polling). */
const ended = new Map<string, () => void>();
const endedIds = new Set<string>();
for (const qe of Object.values(events)) {
  const done = ({ jobId }: { jobId: string }) => {
    endedIds.add(jobId);
    ended.get(jobId)?.();
  };
  qe.on('completed', done);
  qe.on('failed', done);
}
await Promise.all(Object.values(events).map((qe) => qe.waitUntilReady()));
function jobEnded(id: string, timeoutMs = 60_000): Promise<void> {
  if (endedIds.has(id)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`job ${id} did not end within ${timeoutMs} ms`)), timeoutMs);
    ended.set(id, () => {
      clearTimeout(timer);
      ended.delete(id);
      resolve();
    });
  });
}

const workerEnv = {
  LOG_LEVEL: 'warn',
  // Production lock and stall settings, not the tests' short ones.
  QUEUE_LOCK_DURATION_MS: '30000',
  QUEUE_STALLED_INTERVAL_MS: '30000',
  WORKER_CONCURRENCY: '1',
  TFJS_BACKEND: 'cpu',
};
const workerNodeArgs = opts['worker-node-args'].split(' ').filter(Boolean);

async function ensureWorkers(n: number) {
  while (workers.length < n) workers.push(startWorker({ ...workerEnv, WORKER_ID: `dispatch-${workers.length + 1}` }, workerNodeArgs));
  const ids = workers.map((_, i) => `dispatch-${i + 1}`);
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    const live = new Set((await liveWorkers(redis, 20_000)).map((w) => w.id));
    if (ids.every((id) => live.has(id))) return;
    const dead = workers.find((w) => w.process.exitCode !== null);
    if (dead) throw new Error(`a worker exited: ${dead.output.slice(-5).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${n} workers did not all report within 180 s`);
}

let result: Record<string, unknown>;
try {
  await seedSyntheticDataset(DATASET, { seed: 3, trainVolumes: 1, validationVolumes: 1, shape: [8, 32, 32] });
  const ds = await db.dataset.findUniqueOrThrow({ where: { name: DATASET } });
  await db.experiment.deleteMany({ where: { datasetId: ds.id } });
  await Promise.all([probes.obliterate({ force: true }), raw.obliterate({ force: true })]);
  const { id: keyId, key } = await new ApiKeyService(db).create('bench dispatch');
  apiKeyId = keyId;

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const api = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'apps/api/src/server.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', RECONCILER: 'false',
      RATE_LIMIT_MAX: '100000000', MAX_ACTIVE_PER_KEY: '100000000',
      // Production refuses to start without one (dashboard sessions); nothing here signs in.
      SESSION_SECRET: randomBytes(32).toString('base64url'),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(api);
  const rawWorker = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/_dispatch-raw-worker.ts'), RAW_QUEUE, RAW_CHANNEL], { cwd: REPO_ROOT, env: { ...process.env, ...workerEnv }, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(rawWorker);
  log('starting the API, a Capillary worker and a bare BullMQ worker');
  await Promise.all([ensureWorkers(1), arrival('raw:ready', 120_000)]);
  const apiUntil = Date.now() + 60_000;
  while (!(await fetch(`${url}/health`).then((r) => r.ok, () => false))) {
    if (Date.now() > apiUntil || api.exitCode !== null) throw new Error('the API did not answer /health');
    await new Promise((r) => setTimeout(r, 200));
  }

  const spec = { dataset: DATASET, model: 'unet', epochs: 1, lr: 0.003, batchSize: 1, tileSize: 32, stepsPerEpoch: 1, baseFilters: 4, depth: 2 };
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  interface Sample { total: number; http: number; toAdd: number; toActive: number; toTransition: number; toReport: number }
  const capillary: Sample[] = [];
  const rawTotals: number[] = [];

  const submitOnce = async (): Promise<Sample> => {
    const wall0 = Date.now();
    const t0 = performance.now();
    const res = await fetch(`${url}/experiments`, { method: 'POST', headers, body: JSON.stringify(spec) });
    const tHttp = performance.now();
    if (res.status !== 201) throw new Error(`POST /experiments: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    trainingJobs.push(id);
    const t1 = await arrival(id);
    // The measured part is over: free the worker (a cancel kills the sandbox as it starts).
    await fetch(`${url}/experiments/${id}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
    await jobEnded(id);
    const [job, row] = await Promise.all([training.getJob(id), db.experiment.findUniqueOrThrow({ where: { id }, select: { startedAt: true } })]);
    return {
      total: t1 - t0,
      http: tHttp - t0,
      toAdd: job!.timestamp - wall0,
      toActive: job!.processedOn! - job!.timestamp,
      toTransition: row.startedAt!.getTime() - job!.processedOn!,
      toReport: t1 - t0 - (row.startedAt!.getTime() - wall0),
    };
  };
  const rawOnce = async (): Promise<number> => {
    const id = randomUUID();
    const t0 = performance.now();
    await raw.add('raw', {}, { jobId: id, removeOnComplete: true });
    const t1 = await arrival(`raw:${id}`);
    await jobEnded(id);
    return t1 - t0;
  };

  log(`warming up (${WARMUP} of each)`);
  for (let i = 0; i < WARMUP; i++) {
    await submitOnce();
    await rawOnce();
  }
  log(`latency: ${SUBMISSIONS} submissions through the API, ${SUBMISSIONS} raw adds, interleaved`);
  const loadBefore = os.loadavg()[0];
  for (let i = 0; i < SUBMISSIONS; i++) {
    capillary.push(await submitOnce());
    rawTotals.push(await rawOnce());
    if ((i + 1) % 100 === 0) log(`  ${i + 1}/${SUBMISSIONS}: p99 so far ${round(quantile(capillary.map((s) => s.total), 0.99))} ms vs raw ${round(quantile(rawTotals, 0.99))} ms`);
  }
  const latencyLoadAvg1m = [round(loadBefore), round(os.loadavg()[0])];
  await db.experiment.deleteMany({ where: { datasetId: ds.id } });

  // Throughput: every worker process takes probes, one at a time.
  const throughput: Record<string, number> = {};
  const pickupGaps: Record<string, { p50: number; p99: number; max: number }> = {};
  const spread: Record<string, unknown> = {};
  const cpuPerJob: Record<string, unknown> = {};
  // How long a probe took in its worker, and each of its two waits (ms): a job that grows with N is the services, not dispatch.
  const waits: Record<string, unknown> = {};
  for (const n of WORKER_COUNTS) {
    await ensureWorkers(n);
    const count = n * JOBS_PER_WORKER;
    const ids = Array.from({ length: count }, () => randomUUID());
    const done = Promise.all(ids.map((id) => jobEnded(id, 300_000)));
    const servicePids = [pidFile('redis/redis.pid'), pidFile('s3/s3rver.pid')];
    const postmaster = [pidFile('postgres/data/postmaster.pid')];
    const workerPids = workers.map((w) => w.process.pid!);
    const cpu0 = { workers: cpuTicks(workerPids), services: cpuTicks(servicePids, postmaster), bench: process.cpuUsage() };
    const wall0 = Date.now();
    const t0 = performance.now();
    await jobQueues.enqueueBulk('probe', ids.map((id) => ({ jobId: id, payload: { probeId: id, holdMs: HOLD_MS } })));
    await done;
    const seconds = (performance.now() - t0) / 1000;
    throughput[String(n)] = round(count / seconds, 2);
    // CPU per probe across every process on its path: the workers, Redis + s3rver + Postgres, this process.
    const benchCpu = process.cpuUsage(cpu0.bench);
    const cpuMs = {
      workers: (cpuSecondsSince(cpu0.workers, cpuTicks(workerPids)) * 1000) / count,
      services: (cpuSecondsSince(cpu0.services, cpuTicks(servicePids, postmaster)) * 1000) / count,
      bench: (benchCpu.user + benchCpu.system) / 1000 / count,
    };
    cpuPerJob[String(n)] = { workers: round(cpuMs.workers), services: round(cpuMs.services), bench: round(cpuMs.bench), coresUsed: round(((cpuMs.workers + cpuMs.services + cpuMs.bench) * count) / 1000 / seconds, 2), loadAvg1m: round(os.loadavg()[0]) };
    // Idle time of a worker between finishing one probe and starting its next: the pickup cost.
    const jobs = (await Promise.all(ids.map((id) => probes.getJob(id)))).filter((j) => j?.returnvalue);
    const byWorker = new Map<string, { startedAt: number; finishedAt: number; s3Ms: number; postgresMs: number }[]>();
    for (const j of jobs) {
      const list = byWorker.get(j!.processedBy ?? '') ?? [];
      list.push(j!.returnvalue);
      byWorker.set(j!.processedBy ?? '', list);
    }
    const gaps = [...byWorker.values()].flatMap((l) => l.sort((a, b) => a.startedAt - b.startedAt).slice(1).map((r, i) => r.startedAt - l[i].finishedAt));
    pickupGaps[String(n)] = summary(gaps);
    // Until the last worker had its first probe, and from the first worker's last probe ending to the end.
    const firsts = [...byWorker.values()].map((l) => l[0].startedAt - wall0);
    const lasts = [...byWorker.values()].map((l) => l.at(-1)!.finishedAt - wall0);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const perWorker = [...byWorker.values()].map((l) => ({
      jobs: l.length,
      jobMs: round(mean(l.map((r) => r.finishedAt - r.startedAt))),
      s3Ms: round(mean(l.map((r) => r.s3Ms))),
      postgresMs: round(mean(l.map((r) => r.postgresMs))),
      gapMs: round(mean(l.slice(1).map((r, i) => r.startedAt - l[i].finishedAt))),
      firstMs: l[0].startedAt - wall0,
    }));
    const all = [...byWorker.values()].flat();
    waits[String(n)] = { job: summary(all.map((r) => r.finishedAt - r.startedAt)), s3: summary(all.map((r) => r.s3Ms)), postgres: summary(all.map((r) => r.postgresMs)) };
    spread[String(n)] = { workersUsed: byWorker.size, rampMs: Math.max(...firsts), tailMs: Math.max(...lasts) - Math.min(...lasts), jobsPerWorker: summary(perWorker.map((w) => w.jobs)), perWorker };
    const failed = await probes.getJobCountByTypes('failed');
    log(`  ${n} worker(s): ${count} probes in ${round(seconds, 2)} s = ${throughput[String(n)]} jobs/s; pickup gap ${JSON.stringify(pickupGaps[String(n)])} ms; ${JSON.stringify(spread[String(n)])}; waits ${JSON.stringify(waits[String(n)])}; CPU ms per probe ${JSON.stringify(cpuPerJob[String(n)])}${failed ? `; ${failed} FAILED` : ''}`);
    if (failed) throw new Error(`${failed} probes failed`);
    await probes.obliterate({ force: true });
  }

  const totals = capillary.map((s) => s.total);
  const p50Ms = round(quantile(totals, 0.5));
  const p99Ms = round(quantile(totals, 0.99));
  const rawP50Ms = round(quantile(rawTotals, 0.5));
  const rawP99Ms = round(quantile(rawTotals, 0.99));
  const most = Math.max(...WORKER_COUNTS);
  const least = Math.min(...WORKER_COUNTS);
  result = {
    bench: 'dispatch',
    cpus: os.cpus().length,
    submissions: SUBMISSIONS,
    p50Ms,
    p99Ms,
    rawP50Ms,
    rawP99Ms,
    p99Ratio: round(p99Ms / rawP99Ms, 2),
    p50Ratio: round(p50Ms / rawP50Ms, 2),
    // The machine's 1-minute load average before and after the latency phase (2 cores, shared).
    latencyLoadAvg1m,
    // Where a submission's time goes (ms): the API until the job is added, BullMQ until a worker
    // has it, the worker until the registry's transition, and from there until the report arrived.
    segments: Object.fromEntries((['http', 'toAdd', 'toActive', 'toTransition', 'toReport'] as const).map((k) => [k, summary(capillary.map((s) => s[k]))])),
    holdMs: HOLD_MS,
    jobsPerWorker: JOBS_PER_WORKER,
    throughput,
    pickupGapMs: pickupGaps,
    // Per worker count: until every worker had its first probe, the finish spread, jobs per worker (per-worker detail in the log).
    spread: Object.fromEntries(Object.entries(spread).map(([k, v]) => [k, { ...(v as object), perWorker: undefined }])),
    cpuMsPerProbe: cpuPerJob,
    probeWaitsMs: waits,
    idealPerWorker: round(1000 / HOLD_MS, 2),
    scalingEfficiency: round(throughput[String(most)] / ((most / least) * throughput[String(least)]), 3),
  };
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  for (const c of children.reverse()) await stopProcess(c);
  for (const id of trainingJobs) await training.remove(id).catch(() => undefined);
  const ds = await db.dataset.findUnique({ where: { name: DATASET } });
  if (ds) await db.experiment.deleteMany({ where: { datasetId: ds.id } }).catch(() => undefined);
  if (apiKeyId) await db.apiKey.delete({ where: { id: apiKeyId } }).catch(() => undefined);
  await Promise.all([probes.obliterate({ force: true }), raw.obliterate({ force: true })]).catch(() => undefined);
  await Promise.all(Object.values(events).map((qe) => qe.close()));
  await jobQueues.close();
  await raw.close();
  subscriber.disconnect();
  redis.disconnect();
  await disconnectPrisma();
}
console.log(JSON.stringify(result));
process.exit(0);
