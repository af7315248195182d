// A throw-away Redis Cluster on loopback for tests: Debian's redis-server in cluster mode, one
// folder per node under .run/redis-cluster, slots assigned by `redis-cli --cluster create`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './harness.ts';

export interface RedisCluster {
  ports: number[];
  /** The seed URLs as REDIS_URL takes them with REDIS_CLUSTER=true. */
  url: string;
  /** `redis-cli` against one node (exit status checked), for assertions on slots and keys. */
  cli(port: number, ...args: string[]): string;
  /** Stops every node it started and removes their folders. */
  stop(): Promise<void>;
}

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

function cli(port: number, ...args: string[]): string {
  const r = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli -p ${port} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      if (check()) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis cluster: timed out waiting for ${what}`);
}

function pidOf(dir: string): number | null {
  const file = path.join(dir, 'redis.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function stopNode(dir: string): void {
  const pid = pidOf(dir);
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/**
 * Starts `masters` cluster nodes on consecutive ports from `basePort` (default
 * `CAPILLARY_REDIS_CLUSTER_PORT`, else 17101; each node also uses port + 10000 for the cluster
 * bus), joins them into one cluster without replicas and waits until every node says `cluster_state:ok`.
 */
export async function startRedisCluster(opts: { masters?: number; basePort?: number } = {}): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const basePort = opts.basePort ?? Number(process.env.CAPILLARY_REDIS_CLUSTER_PORT ?? 17101);
  const ports = Array.from({ length: masters }, (_, i) => basePort + i);
  const root = path.join(REPO_ROOT, '.run', 'redis-cluster');
  const dirs = ports.map((p) => path.join(root, String(p)));
  const stop = async () => {
    for (const dir of dirs) stopNode(dir);
    await until('the nodes to exit', () => dirs.every((d) => {
      const pid = pidOf(d);
      if (!pid) return true;
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }), 10_000);
    rmSync(root, { recursive: true, force: true });
  };
  // Nodes left by an interrupted run would keep their old cluster state: start from nothing.
  await stop();
  try {
    for (const [i, port] of ports.entries()) {
      mkdirSync(dirs[i], { recursive: true });
      execFileSync(REDIS_SERVER, [
        '--bind', '127.0.0.1', '--port', String(port), '--daemonize', 'yes', '--dir', dirs[i],
        '--pidfile', path.join(dirs[i], 'redis.pid'), '--logfile', path.join(dirs[i], 'redis.log'),
        '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dirs[i], 'nodes.conf'), '--cluster-node-timeout', '5000',
        '--save', '', '--appendonly', 'no',
      ]);
    }
    for (const port of ports) await until(`node ${port} to answer`, () => cli(port, 'ping').trim() === 'PONG');
    execFileSync(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'pipe' });
    await until('cluster_state:ok on every node', () => ports.every((p) => /cluster_state:ok/.test(cli(p, 'cluster', 'info'))));
  } catch (e) {
    await stop();
    throw e;
  }
  return { ports, url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','), cli, stop };
}
