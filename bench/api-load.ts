// `npm run bench -- api-load`: how the API holds up under load, with autocannon on loopback, against
// an API process of its own on the `bench` stack (reads need a key there, as by default):
//  - `GET /leaderboard` with 1,000 experiments (seeded straight into the database), with a key,
//  - `POST /experiments` with a key (each one a row and a queued job, removed afterwards),
// each for --seconds (default 30), first on a quiet API, then during a flood: --viewers (default 20)
// scrubbing `yz` slices of a synthetic volume in a loop and --streams (default 100) open
// Server-Sent Event streams, from another process (bench/_api-load-flood.ts), each viewer and
// stream a user with a key of its own. Between the two, what authorisation costs a request: a
// second API with AUTH_READS=open answers the same cheap reads to an anonymous caller and to a key,
// alternately on one connection each, for --seconds (`authCost`). Reported: p50/p99 latency,
// requests/s, non-2xx and errors per run, the flood's own counts, the API's peak RSS, and flood /
// quiet ratios; with --baseline <log of an earlier run>, the p50s before and after; with --before
// <another checkout, installed>, its API and this one answer the same requests in pairs on the same
// database (`vsBefore`: what the change adds to one request). Last line: one JSON object.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type { Prisma } from '@capillary/db';
import { stackDown, stackProfile, stackStatus, stackUp, REPO_ROOT } from '@capillary/devstack';
import { stopProcess } from './_processes.ts';
import { paired, timedRequest, type PairedFigures, type Timed } from './_paired.ts';
import { describeHost, hostLine } from './_host.ts';

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    connections: { type: 'string', default: '10' },
    viewers: { type: 'string', default: '20' },
    streams: { type: 'string', default: '100' },
    baseline: { type: 'string' },
    before: { type: 'string' },
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
log(hostLine());

const profile = stackProfile('bench');
const before = await stackStatus(profile);
const startedStack = Object.values(before).some((s) => s === 'stopped');
Object.assign(process.env, await stackUp(profile, (l) => log(`stack: ${l}`)), { LOG_LEVEL: 'warn' });
const { prisma, disconnectPrisma } = await import('@capillary/db');
const { seedSyntheticDataset } = await import('@capillary/cli/demo');
const { ApiKeyService } = await import('@capillary/api');
const { JOBS } = await import('@capillary/contracts');
const { Queue } = await import('bullmq');
const { Redis } = await import('ioredis');
const db = prisma();

const children: ChildProcess[] = [];
/** Users the bench made for its keys (the bench's own, the flood's viewers and streams): removed at the end, their keys with them. */
const benchUsers: string[] = [];
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

/** Production wants one (dashboard sessions); nothing here signs in. */
const sessionSecret = randomBytes(32).toString('base64url');

/** Starts an API process on a free loopback port with the bench's settings plus `env`; resolves once /health answers. */
async function startApi(env: Record<string, string> = {}, root = REPO_ROOT): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const api = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'apps/api/src/server.ts')], {
    cwd: root,
    // Rate limits, caps and quotas are not what is measured: none of the measured requests may get a
    // 429. The fixture rows are no real runs, so no reconciler either.
    env: {
      ...process.env, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', RECONCILER: 'false',
      RATE_LIMIT_MAX: '100000000', VIEWER_RATE_LIMIT_MAX: '100000000', VOLUME3D_RATE_LIMIT_MAX: '100000000', SSE_RATE_LIMIT_MAX: '100000000',
      SSE_MAX_PER_CLIENT: '100000', SSE_MAX_TOTAL: '100000', MAX_ACTIVE_PER_KEY: '100000000', SESSION_SECRET: sessionSecret, ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(api);
  await waitForHealth(url, api);
  return { url, process: api };
}

/** A key of a new user who is admin of `default` (where the fixtures are), removed at the end. */
async function benchKey(name: string): Promise<string> {
  const { key, userId } = await new ApiKeyService(db).create(name);
  benchUsers.push(userId);
  return key;
}

/**
 * What a key costs a read over no key at all, on an API with AUTH_READS=open: the same GET sent
 * anonymously and with `key`, in pairs, one request in flight (bench/_paired.ts), so a latency is
 * the request's own cost and not a queue; sub-millisecond timings, which autocannon's
 * whole-millisecond histogram cannot give.
 */
async function authCost(url: string, key: string, seconds: number) {
  const anonymous = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const keyed = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const r = await paired(() => timedRequest(anonymous, url), () => timedRequest(keyed, url, { headers: { authorization: `Bearer ${key}` } }), seconds, { a: 'anonymous', b: 'key' });
  anonymous.destroy();
  keyed.destroy();
  return {
    pairs: r.pairs,
    anonymousP50Ms: r.aP50Ms,
    keyP50Ms: r.bP50Ms,
    keyMinusAnonymousP50Ms: Math.round((r.bP50Ms - r.aP50Ms) * 1000) / 1000,
    pairedDifferenceP50Ms: r.pairedDifferenceP50Ms,
    statuses: r.statuses,
  };
}

/**
 * This build against another checkout's (`--before`, say the commit before a change), both APIs on
 * the same database and the same key: each route's request sent to the older API and to this one
 * in pairs, one in flight, for `seconds` a route. The paired median is what the change adds to
 * one request.
 */
async function beforeAndAfter(before: string, after: string, routes: Record<string, { route: string; send: (agent: http.Agent, base: string, i: number) => Promise<Timed> }>, seconds: number) {
  const figures: Record<string, { route: string } & Omit<PairedFigures, 'aP50Ms' | 'bP50Ms'> & { beforeP50Ms: number; afterP50Ms: number }> = {};
  for (const [name, { route, send }] of Object.entries(routes)) {
    const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
    const measure = (s: number) => paired((i) => send(agents[0], before, i), (i) => send(agents[1], after, i), s, { a: 'before', b: 'after' });
    await measure(2);
    const { aP50Ms, bP50Ms, ...r } = await measure(seconds);
    for (const a of agents) a.destroy();
    figures[name] = { route, beforeP50Ms: aP50Ms, afterP50Ms: bP50Ms, ...r };
    log(`  ${route}: ${JSON.stringify(figures[name])}`);
  }
  return { routes: figures, maxPairedDifferenceP50Ms: Math.max(...Object.values(figures).map((f) => f.pairedDifferenceP50Ms)) };
}

/** The last JSON line of an earlier api-load run's output. */
function baselineOf(file: string): { quiet: Record<string, { p50Ms: number }>; flood: Record<string, { p50Ms: number }> } {
  const line = readFileSync(file, 'utf8').split('\n').reverse().find((l) => l.startsWith('{"bench":"api-load"'));
  if (!line) throw new Error(`--baseline ${file}: no api-load result line in it`);
  return JSON.parse(line);
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
  const key = await benchKey('bench api-load');
  const auth = { authorization: `Bearer ${key}` };

  log('starting the API (AUTH_READS=required, the default)');
  const { url, process: api } = await startApi();
  const anonymous = await fetch(`${url}/leaderboard`);
  if (anonymous.status !== 401) throw new Error(`GET /leaderboard without a key: ${anonymous.status}, expected 401 (AUTH_READS=required)`);
  const lbRows = ((await fetch(`${url}/leaderboard`, { headers: auth }).then((r) => r.json())) as { rows: unknown[] }).rows.length;
  if (lbRows < ROWS) throw new Error(`GET /leaderboard returned ${lbRows} rows, expected ${ROWS}`);

  let rssPeak = rssMB(api.pid!);
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssMB(api.pid!))), 500);

  const leaderboard = () => run('GET /leaderboard', { url: `${url}/leaderboard`, headers: auth });
  const spec = { dataset: DATASET, model: 'unet', epochs: 1, lr: 0.001, batchSize: 2, tileSize: 64, stepsPerEpoch: 5, baseFilters: 8, depth: 3 };
  const post = { method: 'POST' as const, headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(spec) };
  const create = async () => {
    const probe = await fetch(`${url}/experiments`, post);
    if (probe.status !== 201) throw new Error(`POST /experiments probe: ${probe.status} ${await probe.text()}`);
    const figures = await run('POST /experiments', { url: `${url}/experiments`, ...post });
    const removed = await removePosted(ds.id);
    return { ...figures, experimentsCreated: removed };
  };

  // JIT, connection pools and caches warm before anything is recorded.
  log('warming up');
  await run('warm-up', { url: `${url}/leaderboard`, headers: auth, duration: 3 });
  await run('warm-up', { url: `${url}/experiments`, ...post, duration: 3 });
  await removePosted(ds.id);

  log(`quiet: GET /leaderboard for ${SECONDS} s`);
  const quietLeaderboard = await leaderboard();
  log(`quiet: POST /experiments for ${SECONDS} s`);
  const quietCreate = await create();
  const rssQuietPeak = rssPeak;

  // The measured API stays idle meanwhile: a second one, which lets anonymous callers read.
  log(`authorisation cost: anonymous and keyed reads on an API with AUTH_READS=open, ${SECONDS} s a route`);
  const open = await startApi({ AUTH_READS: 'open' });
  const cheapRoutes = { experiment: `/experiments/${streamTarget.id}`, sweeps: '/sweeps' };
  const costs: Record<string, Awaited<ReturnType<typeof authCost>>> = {};
  for (const [name, route] of Object.entries(cheapRoutes)) {
    await authCost(`${open.url}${route}`, key, 2);
    costs[name] = await authCost(`${open.url}${route}`, key, SECONDS);
    log(`  GET ${route}: ${JSON.stringify(costs[name])}`);
  }
  await stopProcess(open.process);

  let vsBefore: Awaited<ReturnType<typeof beforeAndAfter>> & { before: string } | undefined;
  if (opts.before) {
    const dir = path.resolve(opts.before);
    log(`before and after: the API of ${dir} and this one on the same database, request by request, ${SECONDS} s a route`);
    const older = await startApi({}, dir);
    const json = { ...auth, 'content-type': 'application/json' };
    vsBefore = {
      before: dir,
      ...await beforeAndAfter(older.url, url, {
        leaderboard: { route: 'GET /leaderboard', send: (agent, base) => timedRequest(agent, `${base}/leaderboard`, { headers: auth }) },
        createExperiment: { route: 'POST /experiments', send: (agent, base) => timedRequest(agent, `${base}/experiments`, { method: 'POST', headers: json, body: JSON.stringify(spec) }) },
        experiment: { route: 'GET /experiments/:id', send: (agent, base) => timedRequest(agent, `${base}/experiments/${streamTarget.id}`, { headers: auth }) },
        slice: { route: 'GET /volumes/:id/slices/yz/:i', send: (agent, base, i) => timedRequest(agent, `${base}/volumes/${volume.id}/slices/yz/${i % SHAPE[2]}?layer=image`, { headers: auth }) },
      }, SECONDS),
    };
    await removePosted(ds.id);
    await stopProcess(older.process);
  }

  log(`flood: ${VIEWERS} viewers on yz slices and ${STREAMS} event streams, each a user with a key`);
  const floodKeys: { viewers: string[]; streams: string[] } = { viewers: [], streams: [] };
  for (let i = 0; i < VIEWERS; i++) floodKeys.viewers.push(await benchKey(`bench api-load viewer ${i + 1}`));
  for (let i = 0; i < STREAMS; i++) floodKeys.streams.push(await benchKey(`bench api-load stream ${i + 1}`));
  const flood = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'bench/_api-load-flood.ts'), url, volume.id, streamTarget.id, String(VIEWERS), String(STREAMS)], {
    cwd: REPO_ROOT,
    // Keys by environment, not argv, where `ps` would show them.
    env: { ...process.env, API_LOAD_FLOOD_KEYS: JSON.stringify(floodKeys) },
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
  const measured = { quiet: { leaderboard: quietLeaderboard, createExperiment: quietCreate }, flood: { leaderboard: floodLeaderboard, createExperiment: floodCreate } };
  // p50s of an earlier run (say, before a change) beside this run's: after - before, in ms.
  let vsBaseline: Record<string, { beforeP50Ms: number; afterP50Ms: number; diffMs: number }> | undefined;
  if (opts.baseline) {
    const b = baselineOf(opts.baseline);
    vsBaseline = {};
    for (const phase of ['quiet', 'flood'] as const) {
      for (const route of ['leaderboard', 'createExperiment'] as const) {
        const [before, after] = [b[phase][route].p50Ms, measured[phase][route].p50Ms];
        vsBaseline[`${phase}.${route}`] = { beforeP50Ms: before, afterP50Ms: after, diffMs: after - before };
      }
    }
  }
  result = {
    bench: 'api-load',
    host: describeHost(),
    cpus: os.cpus().length,
    secondsPerRun: SECONDS,
    connections: CONNECTIONS,
    leaderboardRows: lbRows,
    authReads: 'required',
    quiet: measured.quiet,
    flood: {
      load: { ...floodStats, streamStatuses: ready.streamStatuses },
      ...measured.flood,
    },
    apiRssPeakMB: { quiet: rssQuietPeak, flood: rssPeak },
    // Reference: the same requests on the quiet API, measured in this run.
    ratio: {
      leaderboardP99FloodOverQuiet: ratio(floodLeaderboard.p99Ms, quietLeaderboard.p99Ms),
      leaderboardRpsFloodOverQuiet: ratio(floodLeaderboard.requestsPerSecond, quietLeaderboard.requestsPerSecond),
      createP99FloodOverQuiet: ratio(floodCreate.p99Ms, quietCreate.p99Ms),
      createRpsFloodOverQuiet: ratio(floodCreate.requestsPerSecond, quietCreate.requestsPerSecond),
    },
    // A key's cost on one read (lookup, roles, policy) over an anonymous read of the same route,
    // which still resolves the route's project: the bound is 1 ms on the median request.
    authCost: {
      routes: Object.fromEntries(Object.entries(cheapRoutes).map(([name, route]) => [name, { route: `GET ${route.replace(streamTarget.id, ':id')}`, ...costs[name] }])),
      maxPairedDifferenceP50Ms: Math.max(...Object.values(costs).map((c) => c.pairedDifferenceP50Ms)),
    },
    ...(vsBaseline ? { vsBaseline: { file: path.basename(opts.baseline!), ...vsBaseline } } : {}),
    // What this build adds to one request over the --before build's, on the same data and key.
    ...(vsBefore ? { vsBefore } : {}),
    createSpec: spec,
    measuredNon2xxOrErrors: allNon2xx,
  };
} finally {
  for (const c of children.reverse()) await stopProcess(c);
  // Requests still in flight when a run stopped may have created rows after its clean-up.
  if (benchDatasetId) await removePosted(benchDatasetId);
  // Their keys and memberships go with them.
  if (benchUsers.length) await db.user.deleteMany({ where: { id: { in: benchUsers } } });
  await training.close();
  redis.disconnect();
  await disconnectPrisma();
  if (startedStack) await stackDown(profile, (l) => log(`stack: ${l}`));
}
console.log(JSON.stringify(result));
process.exit(0);
