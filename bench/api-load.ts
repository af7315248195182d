// `npm run bench -- api-load`: how the API holds up under load, with autocannon on loopback, against
// an API process of its own on the `bench` stack:
//  - `GET /leaderboard` with 1,000 experiments (seeded straight into the database),
//  - `POST /experiments` with an API key (each one a row and a queued job, removed afterwards),
// each for --seconds (default 30), first on a quiet API, then during a flood: --viewers (default 20)
// scrubbing `yz` slices of a synthetic volume in a loop and --streams (default 100) open
// Server-Sent Event streams, from another process (bench/_api-load-flood.ts). Reported: p50/p99
// latency, requests/s, non-2xx and errors per run, the flood's own counts, the API's peak RSS, and
// flood / quiet ratios. Last line: one JSON object.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type { Prisma } from '@capillary/db';
import { stackDown, stackProfile, stackStatus, stackUp, REPO_ROOT } from '../apps/cli/src/stack/stack.ts';
import { stopProcess } from './_processes.ts';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '10' },
    viewers: { type: 'string', default: '20' },
    streams: { type: 'string', default: '100' },
  },
});
const SECONDS = Number(opts.seconds);
const CONNECTIONS = Number(opts.connections);
const VIEWERS = Number(opts.viewers);
const STREAMS = Number(opts.streams);
const ROWS = 1000;
const DATASET = 'bench-api-load';
const SHAPE: [number, number, number] = [64, 256, 256];
const log = (m: string) => console.log(`[api-load] ${m}`);

const profile = stackProfile('bench');
const before = await stackStatus(profile);
const startedStack = Object.values(before).some((s) => s === 'stopped');
Object.assign(process.env, await stackUp(profile, (l) => log(`stack: ${l}`)), { LOG_LEVEL: 'warn' });
const { prisma, disconnectPrisma } = await import('@capillary/db');
const { seedSyntheticDataset } = await import('../apps/cli/src/demo/seed.ts');
const { ApiKeyService } = await import('../apps/api/src/services/api-keys.ts');
const { JOBS } = await import('@capillary/contracts');
const { Queue } = await import('bullmq');
const { Redis } = await import('ioredis');
const db = prisma();

const children: ChildProcess[] = [];
let apiKeyId: string | undefined;
let benchDatasetId: string | undefined;
const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
const { queuePrefix } = await import('@capillary/queue');
const training = new Queue(JOBS.training.queue, { connection: redis, prefix: queuePrefix() });

/** Removes what `POST /experiments` made: rows without a sweep in the bench dataset, and their jobs. */
async function removePosted(datasetId: string): Promise<number> {
  const rows = await db.experiment.findMany({ where: { datasetId, sweepId: null }, select: { id: true } });
  for (let i = 0; i < rows.length; i += 200) await Promise.all(rows.slice(i, i + 200).map((r) => training.remove(r.id)));
  await db.experiment.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } });
  return rows.length;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Resident memory of a process, from /proc (Linux), in MB. */
function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function waitForHealth(url: string, api: ChildProcess) {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (api.exitCode !== null) throw new Error(`the API exited with ${api.exitCode}`);
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the API did not answer /health within 60 s');
}

interface Figures {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

function run(title: string, o: Partial<autocannon.Options>): Promise<Figures> {
  return new Promise((resolve, reject) => {
    autocannon({ title, connections: CONNECTIONS, duration: SECONDS, ...o, url: o.url! }, (err, r) => {
      if (err) return reject(err);
      const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, Number((v as { count: number }).count)]));
      resolve({
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        requestsPerSecond: Math.round(r.requests.average * 10) / 10,
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        statusCodes,
      });
    });
  });
}

let result: Record<string, unknown>;
try {
  log(`seeding a ${SHAPE.join(' x ')} synthetic volume`);
  await seedSyntheticDataset(DATASET, { seed: 11, trainVolumes: 0, validationVolumes: 1, shape: SHAPE });
  const ds = await db.dataset.findUniqueOrThrow({ where: { name: DATASET }, include: { volumes: true } });
  const volume = ds.volumes[0];
  benchDatasetId = ds.id;

  log(`seeding ${ROWS} experiments`);
  await removePosted(ds.id);
  await db.experiment.deleteMany({ where: { datasetId: ds.id } });
  await db.sweep.deleteMany({ where: { name: { startsWith: `${DATASET} ` } } });
  const sweepId = randomUUID();
  await db.sweep.create({ data: { id: sweepId, name: `${DATASET} sweep`, grid: {} } });
  const t0 = Date.now() - ROWS * 60_000;
  const rows = Array.from({ length: ROWS }, (_, i): Prisma.ExperimentCreateManyInput => {
    // One running experiment: the event streams follow it, and a running one's stream stays open.
    const running = i === 0;
    const started = new Date(t0 + i * 60_000);
    return {
      name: `${DATASET}-${String(i + 1).padStart(4, '0')}`, spec: { dataset: DATASET, model: 'unet', epochs: 10, lr: 0.001 }, datasetId: ds.id, sweepId,
      model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 10, lr: [0.003, 0.001, 0.0003][i % 3], augmentationP: 0.5, batchSize: 4, seed: i,
      status: running ? ('running' as const) : ('succeeded' as const), attempts: 1, backend: 'wasm',
      score: running ? null : Math.round(((i * 7919) % 9000) / 10) / 1000, bestEpoch: running ? null : 1 + (i % 10),
      privateScore: running ? null : Math.round(((i * 104729) % 9000) / 10) / 1000,
      createdAt: started, startedAt: started, finishedAt: running ? null : new Date(started.getTime() + 120_000),
    };
  });
  for (let i = 0; i < rows.length; i += 500) await db.experiment.createMany({ data: rows.slice(i, i + 500) });
  const streamTarget = await db.experiment.findFirstOrThrow({ where: { datasetId: ds.id, status: 'running' } });
  const { id: keyId, key } = await new ApiKeyService(db).create('bench api-load');
  apiKeyId = keyId;

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  log(`starting the API on ${url}`);
  const api = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'apps/api/src/server.ts')], {
    cwd: REPO_ROOT,
    // Rate limits, caps and quotas are not what is measured: none of the measured requests may get a
    // 429. The fixture rows are no real runs, so no reconciler either.
    env: {
      ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', RECONCILER: 'false',
      RATE_LIMIT_MAX: '100000000', VIEWER_RATE_LIMIT_MAX: '100000000', VOLUME3D_RATE_LIMIT_MAX: '100000000', SSE_RATE_LIMIT_MAX: '100000000',
      SSE_MAX_PER_CLIENT: '100000', SSE_MAX_TOTAL: '100000', MAX_ACTIVE_PER_KEY: '100000000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(api);
  await waitForHealth(url, api);
  const lbRows = ((await fetch(`${url}/leaderboard`).then((r) => r.json())) as { rows: unknown[] }).rows.length;
  if (lbRows < ROWS) throw new Error(`GET /leaderboard returned ${lbRows} rows, expected ${ROWS}`);

  let rssPeak = rssMB(api.pid!);
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssMB(api.pid!))), 500);

  const leaderboard = () => run('GET /leaderboard', { url: `${url}/leaderboard` });
  const spec = { dataset: DATASET, model: 'unet', epochs: 1, lr: 0.001, batchSize: 2, tileSize: 64, stepsPerEpoch: 5, baseFilters: 8, depth: 3 };
  const create = async () => {
    const probe = await fetch(`${url}/experiments`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    if (probe.status !== 201) throw new Error(`POST /experiments probe: ${probe.status} ${await probe.text()}`);
    const figures = await run('POST /experiments', {
      url: `${url}/experiments`,
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(spec),
    });
    const removed = await removePosted(ds.id);
    return { ...figures, experimentsCreated: removed };
  };

  // JIT, connection pools and caches warm before anything is recorded.
  log('warming up');
  await run('warm-up', { url: `${url}/leaderboard`, duration: 3 });
  await run('warm-up', { url: `${url}/experiments`, method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(spec), duration: 3 });
  await removePosted(ds.id);

  log(`quiet: GET /leaderboard for ${SECONDS} s`);
  const quietLeaderboard = await leaderboard();
  log(`quiet: POST /experiments for ${SECONDS} s`);
  const quietCreate = await create();
  const rssQuietPeak = rssPeak;

  log(`flood: ${VIEWERS} viewers on yz slices and ${STREAMS} event streams`);
  const flood = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/_api-load-flood.ts'), url, volume.id, streamTarget.id, String(VIEWERS), String(STREAMS)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(flood);
  const lines = createInterface({ input: flood.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the flood process ended early (exit ${flood.exitCode})`);
    return JSON.parse(value as string);
  };
  const ready = await next();
  log(`flood ready: ${JSON.stringify(ready)}`);
  log(`flood: GET /leaderboard for ${SECONDS} s`);
  const floodLeaderboard = await leaderboard();
  log(`flood: POST /experiments for ${SECONDS} s`);
  const floodCreate = await create();
  flood.stdin!.write('stop\n');
  const floodStats = await next();
  clearInterval(rssTimer);

  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const allNon2xx = [quietLeaderboard, quietCreate, floodLeaderboard, floodCreate].reduce((n, f) => n + f.non2xx + f.errors, 0);
  result = {
    bench: 'api-load',
    cpus: os.cpus().length,
    secondsPerRun: SECONDS,
    connections: CONNECTIONS,
    leaderboardRows: lbRows,
    quiet: { leaderboard: quietLeaderboard, createExperiment: quietCreate },
    flood: {
      load: { ...floodStats, streamStatuses: ready.streamStatuses },
      leaderboard: floodLeaderboard,
      createExperiment: floodCreate,
    },
    apiRssPeakMB: { quiet: rssQuietPeak, flood: rssPeak },
    // Reference: the same requests on the quiet API, measured in this run.
    ratio: {
      leaderboardP99FloodOverQuiet: ratio(floodLeaderboard.p99Ms, quietLeaderboard.p99Ms),
      leaderboardRpsFloodOverQuiet: ratio(floodLeaderboard.requestsPerSecond, quietLeaderboard.requestsPerSecond),
      createP99FloodOverQuiet: ratio(floodCreate.p99Ms, quietCreate.p99Ms),
      createRpsFloodOverQuiet: ratio(floodCreate.requestsPerSecond, quietCreate.requestsPerSecond),
    },
    createSpec: spec,
    measuredNon2xxOrErrors: allNon2xx,
  };
} finally {
  for (const c of children.reverse()) await stopProcess(c);
  // Requests still in flight when a run stopped may have created rows after its clean-up.
  if (benchDatasetId) await removePosted(benchDatasetId);
  if (apiKeyId) await db.apiKey.delete({ where: { id: apiKeyId } });
  await training.close();
  redis.disconnect();
  await disconnectPrisma();
  if (startedStack) await stackDown(profile, (l) => log(`stack: ${l}`));
}
console.log(JSON.stringify(result));
process.exit(0);
