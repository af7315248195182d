// What every fault drill shares: real workers as child processes, an API with the reconciler on,
// a sweep of tiny experiments, and the count of what was lost. Used by test/faults.test.ts (each
// drill once) and bench/faults.ts (each drill N times).
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { prisma } from '@capillary/db';
import type { StackProfile } from '@capillary/devstack';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';

/** One trial's count of what went wrong; all zero is a pass. */
export interface DrillTally {
  experiments: number;
  /** never succeeded */
  lost: number;
  /** epochs committed more than once, or outside 1..N */
  duplicatedEpochs: number;
  /** not terminal when the drill's time ran out */
  stuck: number;
  /** worker processes that exited without being told to */
  workerCrashes: number;
  /** other broken promises of the drill, in words (a slow hand-over, a counted stall, a stray write) */
  violations: string[];
}

export interface DrillContext {
  profile: StackProfile;
  dataset: string;
  log(line: string): void;
}

export const DRILL_WORKER_ENV = {
  QUEUE_LOCK_DURATION_MS: '4000',
  QUEUE_STALLED_INTERVAL_MS: '2000',
  HEARTBEAT_INTERVAL_MS: '1000',
  RUN_CHECK_INTERVAL_MS: '1000',
};

/** The API with a fast reconciler, as a drill needs it. */
export function drillApi(): Promise<RunningApi> {
  return startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: '1000', HEARTBEAT_TTL_MS: '5000', ...DRILL_WORKER_ENV });
}

/** Workers whose unexpected exits are counted. */
export class DrillWorkers {
  readonly all: RunningWorker[] = [];
  private readonly stopping = new Set<RunningWorker>();
  private readonly ids = new Map<string, RunningWorker>();

  start(id: string, env: Record<string, string> = {}): RunningWorker {
    const w = startWorker({ WORKER_ID: id, ...DRILL_WORKER_ENV, ...env });
    this.all.push(w);
    this.ids.set(id, w);
    return w;
  }

  /** SIGTERM as an orchestrator sends it: an expected exit. */
  terminate(w: RunningWorker): Promise<void> {
    this.stopping.add(w);
    return w.stop();
  }

  /** SIGKILL, as a node that dies takes its worker: an expected exit; its sandboxes die with it. */
  terminateHard(w: RunningWorker): void {
    this.stopping.add(w);
    const sandboxes = sandboxesOf(w.process.pid!);
    w.process.kill('SIGKILL');
    for (const pid of sandboxes) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  crashes(): number {
    return this.crashed().length;
  }

  /** The last output lines of each worker that exited unasked: a crash in CI is read from these. */
  crashOutput(lines = 40): string[] {
    return this.crashed().map((w) => `worker ${w.process.pid} exited unasked (${w.process.exitCode ?? w.process.signalCode}):\n${w.output.slice(-lines).join('\n')}`);
  }

  private crashed(): RunningWorker[] {
    return this.all.filter((w) => !this.stopping.has(w) && (w.process.exitCode !== null || w.process.signalCode !== null));
  }

  async stopAll(): Promise<void> {
    for (const w of this.all) this.stopping.add(w);
    await Promise.all(this.all.map((w) => w.stop()));
  }

  byId(id: string): RunningWorker | undefined {
    return this.ids.get(id);
  }
}

/** Runs `body` with an API and a set of workers, and always stops them. */
export async function withRig<T>(body: (api: RunningApi, workers: DrillWorkers) => Promise<T>): Promise<T> {
  const api = await drillApi();
  const workers = new DrillWorkers();
  try {
    return await body(api, workers);
  } finally {
    for (const report of workers.crashOutput()) console.error(`[drill] ${report}`);
    await workers.stopAll();
    await api.close();
  }
}

/** Queues a sweep of `n` tiny experiments (differing by seed) and returns their ids. */
export async function queueSweep(api: RunningApi, dataset: string, n: number, over: Record<string, unknown> = {}): Promise<string[]> {
  const { seed: _s, ...base } = tinySpec(dataset, { epochs: 3, stepsPerEpoch: 2, ...over }) as Record<string, unknown>;
  const res = await api.request('POST', '/sweeps', { name: `drill ${Date.now()}`, base, grid: { seed: Array.from({ length: n }, (_, i) => i + 1) } });
  if (res.status !== 201) throw new Error(`sweep refused: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.experiments.map((e: { id: string }) => e.id);
}

/** Waits until `min` epochs are committed across `ids`: the drill strikes mid-sweep. */
export async function untilEpochs(ids: string[], min: number, timeoutMs = 180_000) {
  await waitUntil(`${min} committed epochs`, async () => ((await prisma().epochMetric.count({ where: { experimentId: { in: ids } } })) >= min ? true : undefined), timeoutMs, 200);
}

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Waits (up to `timeoutMs`) for every run to end, then counts what was lost. */
export async function tally(ids: string[], workers: DrillWorkers, timeoutMs: number): Promise<DrillTally> {
  const db = prisma();
  await waitUntil('every run to end', async () => {
    const open = await db.experiment.count({ where: { id: { in: ids }, status: { notIn: TERMINAL as never } } });
    return open === 0 ? true : undefined;
  }, timeoutMs, 500).catch(() => undefined);
  const rows = await db.experiment.findMany({ where: { id: { in: ids } }, include: { epochMetrics: true } });
  let duplicatedEpochs = 0;
  const violations: string[] = [];
  for (const r of rows) {
    for (const m of r.epochMetrics) {
      duplicatedEpochs += m.commits - 1;
      if (m.epoch < 1 || m.epoch > r.epochs) duplicatedEpochs++;
    }
    const epochs = r.epochMetrics.map((m) => m.epoch).sort((a, b) => a - b);
    if (r.status === 'succeeded' && epochs.join() !== Array.from({ length: r.epochs }, (_, i) => i + 1).join()) {
      violations.push(`${r.id} succeeded with epochs [${epochs.join(', ')}], not 1..${r.epochs}`);
    }
  }
  return {
    experiments: ids.length,
    lost: rows.filter((r) => r.status !== 'succeeded').length + (ids.length - rows.length),
    duplicatedEpochs,
    stuck: rows.filter((r) => !TERMINAL.includes(r.status)).length,
    workerCrashes: workers.crashes(),
    violations,
  };
}

/** Epoch numbers of one experiment, in order. */
export async function epochsOf(id: string): Promise<number[]> {
  return (await prisma().epochMetric.findMany({ where: { experimentId: id }, orderBy: { epoch: 'asc' } })).map((m) => m.epoch);
}

/** The sandboxes a worker runs now (its other children, such as tsx's esbuild, do not count). */
export function sandboxesOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid), '-f', 'sandbox\\.ts'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A fault lasts this long: the one fixed wait in a drill is the outage itself. */
export const outage = (ms: number) => sleep(ms);
