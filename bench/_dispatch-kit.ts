// Helpers of `npm run bench -- dispatch`: worker processes, CPU time from /proc, percentiles.
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/**
 * CPU ticks (user + system) used so far per process, for these processes and, for `withChildren`,
 * those and their children (Postgres backends).
 */
const TICKS = 100;
export function cpuTicks(pids: number[], withChildren: number[] = []): Map<number, number> {
  const stat = (pid: number) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(parts[1]), ticks: Number(parts[11]) + Number(parts[12]) };
    } catch {
      return null;
    }
  };
  const out = new Map<number, number>();
  for (const pid of pids) out.set(pid, stat(pid)?.ticks ?? 0);
  if (withChildren.length) {
    for (const name of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      const s = stat(Number(name));
      if (s && (withChildren.includes(Number(name)) || withChildren.includes(s.ppid))) out.set(Number(name), s.ticks);
    }
  }
  return out;
}
/** CPU seconds used between two samples by the processes alive at the second (a process born in between counts whole). */
export function cpuSecondsSince(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return ticks / TICKS;
}

export const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};
export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
export const summary = (xs: number[]) => ({ p50: round(quantile(xs, 0.5)), p99: round(quantile(xs, 0.99)), max: round(Math.max(...xs)) });

/** A Capillary worker process with the bench's environment (no test tuning), node flags allowed. */
export { spawnWorker as startWorker, type RunningWorker } from '../test/harness.ts';
