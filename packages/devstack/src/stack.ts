import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chownSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installDebianPackages, missingDebianPackages } from '../debian.mjs';

/** Repository root (this file is packages/devstack/src/stack.ts; Node resolves the workspace link to it). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where a named local stack keeps its data, and the loopback ports it listens on. */
export interface StackProfile {
  name: string;
  dir: string;
  redisPort: number;
  postgresPort: number;
  s3Port: number;
  bucket: string;
}

/** `dev` serves the demo, `test` the test suite, so tests never touch demo data. */
export function stackProfile(name = 'dev'): StackProfile {
  const base = { dev: 0, test: 1, bench: 2 }[name as 'dev'] ?? 3;
  return {
    name,
    dir: path.join(REPO_ROOT, '.run', name),
    redisPort: Number(process.env.CAPILLARY_REDIS_PORT ?? 16390 + base),
    postgresPort: Number(process.env.CAPILLARY_POSTGRES_PORT ?? 15440 + base),
    s3Port: Number(process.env.CAPILLARY_S3_PORT ?? 14570 + base),
    bucket: 'capillary',
  };
}

/** The environment variables a Capillary process needs to use this stack. */
export function stackEnv(p: StackProfile): Record<string, string> {
  return {
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${p.postgresPort}/capillary`,
    REDIS_URL: `redis://127.0.0.1:${p.redisPort}`,
    S3_ENDPOINT: `http://127.0.0.1:${p.s3Port}`,
    S3_BUCKET: p.bucket,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    S3_FORCE_PATH_STYLE: 'true',
    CHUNK_CACHE_DIR: path.join(p.dir, 'chunk-cache'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

const PG_BIN = '/usr/lib/postgresql/15/bin';
const DEBIAN_PACKAGES: Record<string, string> = {
  'redis-server': '/usr/bin/redis-server',
  'postgresql-15': `${PG_BIN}/initdb`,
};

type Log = (line: string) => void;

/** Installs the Debian packages the stack needs, or says exactly what to install. */
export function ensurePackages(log: Log): void {
  const apt = installDebianPackages(missingDebianPackages(DEBIAN_PACKAGES), {
    announce: (missing) => log(`installing ${missing.join(', ')} with apt-get`),
  });
  if (apt.outcome === 'not-root') throw new Error(`missing Debian packages: run as root: ${apt.command}`);
  if (apt.outcome === 'failed') throw new Error(`\`${apt.command}\` failed (apt-get's output is above)`);
}

function readPid(file: string): number | null {
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0].trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function alive(pid: number | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${what} did not answer within ${timeoutMs / 1000}s`);
}

const pidFiles = (p: StackProfile) => ({
  redis: path.join(p.dir, 'redis', 'redis.pid'),
  postgres: path.join(p.dir, 'postgres', 'data', 'postmaster.pid'),
  s3: path.join(p.dir, 's3', 's3rver.pid'),
});

async function startRedis(p: StackProfile, log: Log) {
  const dir = path.join(p.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  const pidFile = pidFiles(p).redis;
  if (alive(readPid(pidFile))) return log(`redis already running on ${p.redisPort}`);
  if (await portOpen(p.redisPort)) throw new Error(`port ${p.redisPort} is taken by another process (set CAPILLARY_REDIS_PORT)`);
  // Append-only persistence everywhere, so a restart keeps the queue; only the test profile
  // trades the fsync for speed (the OS still writes the file).
  execFileSync('/usr/bin/redis-server', [
    '--bind', '127.0.0.1', '--port', String(p.redisPort), '--daemonize', 'yes', '--dir', dir,
    '--pidfile', pidFile, '--logfile', path.join(dir, 'redis.log'), '--save', '',
    '--appendonly', 'yes', '--appendfsync', p.name === 'test' ? 'no' : 'everysec',
  ]);
  await waitFor('redis', () => portOpen(p.redisPort));
  log(`redis started on 127.0.0.1:${p.redisPort}`);
}

function asPostgres(args: string[]) {
  const isRoot = process.getuid?.() === 0;
  const [cmd, ...rest] = args;
  const r = isRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...rest], { encoding: 'utf8' }) : spawnSync(cmd, rest, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function startPostgres(p: StackProfile, log: Log) {
  const dir = path.join(p.dir, 'postgres');
  const data = path.join(dir, 'data');
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() === 0) {
    const pw = execFileSync('id', ['-u', 'postgres']).toString().trim();
    const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
    chownSync(dir, Number(pw), Number(gid));
  }
  if (!existsSync(path.join(data, 'PG_VERSION'))) {
    asPostgres([`${PG_BIN}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale']);
    log('postgres cluster initialised');
  }
  if (alive(readPid(pidFiles(p).postgres))) {
    log(`postgres already running on ${p.postgresPort}`);
  } else {
    if (await portOpen(p.postgresPort)) throw new Error(`port ${p.postgresPort} is taken by another process (set CAPILLARY_POSTGRES_PORT)`);
    // Durable by default; only the test profile may lose its last commits in a crash.
    const speed = p.name === 'test' ? ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off' : '';
    asPostgres([
      `${PG_BIN}/pg_ctl`, '-D', data, '-l', path.join(dir, 'postgres.log'), '-w', 'start', '-o',
      `-k ${dir} -p ${p.postgresPort} -c listen_addresses=127.0.0.1 -c max_connections=200${speed}`,
    ]);
    log(`postgres started on 127.0.0.1:${p.postgresPort}`);
  }
  await waitFor('postgres', () => spawnSync(`${PG_BIN}/pg_isready`, ['-h', '127.0.0.1', '-p', String(p.postgresPort)]).status === 0);
  const exists = spawnSync('psql', ['-h', '127.0.0.1', '-p', String(p.postgresPort), '-U', 'postgres', '-tAc', "SELECT 1 FROM pg_database WHERE datname='capillary'"], { encoding: 'utf8' });
  if (exists.stdout.trim() !== '1') {
    execFileSync('psql', ['-h', '127.0.0.1', '-p', String(p.postgresPort), '-U', 'postgres', '-c', 'CREATE DATABASE capillary']);
  }
}

async function startS3(p: StackProfile, log: Log) {
  const dir = path.join(p.dir, 's3');
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const pidFile = pidFiles(p).s3;
  if (alive(readPid(pidFile))) return log(`s3rver already running on ${p.s3Port}`);
  if (await portOpen(p.s3Port)) throw new Error(`port ${p.s3Port} is taken by another process (set CAPILLARY_S3_PORT)`);
  const bin = path.join(REPO_ROOT, 'node_modules', 's3rver', 'bin', 's3rver.js');
  const out = openSync(path.join(dir, 's3rver.log'), 'a');
  // Started with node itself so the recorded PID is the server's; the legacy provider keeps
  // s3rver's paginated listing working on Node 20's OpenSSL 3.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', bin, '--directory', path.join(dir, 'data'), '--port', String(p.s3Port), '--address', '127.0.0.1', '--silent'], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  writeFileSync(pidFile, String(child.pid));
  await waitFor('s3rver', () => portOpen(p.s3Port));
  log(`s3rver started on 127.0.0.1:${p.s3Port}`);
}

function migrate(p: StackProfile, log: Log) {
  const r = spawnSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'prisma'), ['migrate', 'deploy'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...stackEnv(p) },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`prisma migrate deploy failed:\n${r.stdout}\n${r.stderr}`);
  log('migrations applied');
}

async function createBucket(p: StackProfile, log: Log) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { S3Client, CreateBucketCommand, HeadBucketCommand } = await import('@aws-sdk/client-s3');
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${p.s3Port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  try {
    await s3.send(new HeadBucketCommand({ Bucket: p.bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: p.bucket }));
    log(`bucket ${p.bucket} created`);
  }
  s3.destroy();
}

/** Starts whatever of the stack is not running yet, migrates, and returns its environment. Safe to repeat. */
export async function stackUp(p: StackProfile, log: Log = () => {}): Promise<Record<string, string>> {
  ensurePackages(log);
  mkdirSync(p.dir, { recursive: true });
  await startRedis(p, log);
  await startPostgres(p, log);
  await startS3(p, log);
  migrate(p, log);
  await createBucket(p, log);
  const env = stackEnv(p);
  writeFileSync(path.join(p.dir, 'stack.env'), Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  return env;
}

/** Stops only the processes this stack started, by their recorded PIDs. */
export async function stackDown(p: StackProfile, log: Log = () => {}): Promise<void> {
  const pids = pidFiles(p);
  const pg = readPid(pids.postgres);
  if (alive(pg)) {
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', path.join(p.dir, 'postgres', 'data'), '-m', 'fast', '-w', 'stop']);
    log('postgres stopped');
  }
  for (const [name, file] of [['redis', pids.redis], ['s3rver', pids.s3]] as const) {
    const pid = readPid(file);
    if (alive(pid)) {
      process.kill(pid!, 'SIGTERM');
      await waitFor(`${name} exit`, () => !alive(pid), 10_000).catch(() => process.kill(pid!, 'SIGKILL'));
      log(`${name} stopped`);
    }
    if (name === 's3rver') rmSync(file, { force: true });
  }
}

export async function stackStatus(p: StackProfile): Promise<Record<string, 'running' | 'stopped'>> {
  const pids = pidFiles(p);
  const state = (f: string) => (alive(readPid(f)) ? 'running' : 'stopped') as 'running' | 'stopped';
  return { redis: state(pids.redis), postgres: state(pids.postgres), s3: state(pids.s3) };
}

export type StackService = 'redis' | 'postgres' | 's3';

/**
 * Stops one service of the stack, for fault drills (`wipe`: Redis comes back empty, as after a
 * lost volume). The data of Postgres and S3 is always kept.
 */
export async function stopService(p: StackProfile, service: StackService, opts: { wipe?: boolean } = {}): Promise<void> {
  const pids = pidFiles(p);
  if (service === 'postgres') {
    asPostgres([`${PG_BIN}/pg_ctl`, '-D', path.join(p.dir, 'postgres', 'data'), '-m', 'fast', '-w', 'stop']);
    return;
  }
  const file = service === 'redis' ? pids.redis : pids.s3;
  const pid = readPid(file);
  if (alive(pid)) {
    process.kill(pid!, 'SIGTERM');
    await waitFor(`${service} exit`, () => !alive(pid), 10_000).catch(() => process.kill(pid!, 'SIGKILL'));
  }
  await waitFor(`${service} port closed`, async () => !(await portOpen(service === 'redis' ? p.redisPort : p.s3Port)), 10_000);
  if (service === 'redis' && opts.wipe) {
    const dir = path.join(p.dir, 'redis');
    for (const f of ['appendonlydir', 'dump.rdb']) rmSync(path.join(dir, f), { recursive: true, force: true });
  }
}

/** Starts one stopped service again, on its port, with the data it kept. */
export async function startService(p: StackProfile, service: StackService, log: Log = () => {}): Promise<void> {
  if (service === 'redis') return startRedis(p, log);
  if (service === 'postgres') return startPostgres(p, log);
  return startS3(p, log);
}
