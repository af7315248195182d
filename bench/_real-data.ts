// Shared by the real-data evaluations: a `bench` local stack, the API in this process, workers as
// child processes, experiments submitted through the API and queue like any user's, and the
// per-epoch curves printed as they arrive.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from '@capillary/contracts';
import { REPO_ROOT, stackProfile, stackUp } from '@capillary/devstack';

export const SHARED_DATA = path.resolve(REPO_ROOT, '..', 'shared', 'data');

/** Exits with a message (not a failure) when the real data is not on this machine. */
export function requireData(folder: string): string {
  const dir = path.join(SHARED_DATA, folder);
  if (!existsSync(dir)) {
    console.log(`skipped: ${dir} is absent (the real data lives in ../shared/data)`);
    console.log(JSON.stringify({ skipped: true, reason: `${dir} absent` }));
    process.exit(0);
  }
  return dir;
}

/** A committed spec file: a sweep when it has a `base`, otherwise one experiment. */
export function readSpecFile(file: string): { kind: 'sweep' | 'experiment'; body: any } {
  let body: any;
  try {
    body = JSON.parse(readFileSync(path.resolve(REPO_ROOT, file), 'utf8'));
  } catch (e) {
    console.error(`--file ${file}: ${(e as Error).message}`);
    process.exit(2);
  }
  return { kind: body.base ? 'sweep' : 'experiment', body };
}

/** The spec fields whose values differ between runs: what a sweep varied. */
export function variedFields(specs: Record<string, unknown>[]): string[] {
  const keys = [...new Set(specs.flatMap((s) => Object.keys(s)))];
  return keys.filter((k) => new Set(specs.map((s) => JSON.stringify(s[k]))).size > 1);
}

/** A run named by the values of the fields its sweep varied, e.g. `baseFilters=32 lr=0.002`. */
export const describeRun = (spec: Record<string, unknown>, varied: string[]) => varied.map((k) => `${k}=${JSON.stringify(spec[k])}`).join(' ');

/** The metrics row of an experiment's best epoch (the registry's one rule), and its training minutes. */
export function bestOf(e: any): { epoch: number | null; dice: number | null; surfaceDice: number | null; trainingMinutes: number } {
  const m = e.epochMetrics.find((r: any) => r.epoch === e.bestEpoch);
  const trainingMinutes = Number((e.epochMetrics.reduce((a: number, r: any) => a + r.durationMs, 0) / 60000).toFixed(1));
  return { epoch: e.bestEpoch ?? null, dice: m?.dice ?? null, surfaceDice: m?.surfaceDice ?? null, trainingMinutes };
}

const cell = (v: unknown) => (typeof v === 'number' ? String(Number(v.toFixed(4))) : typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));

/** A markdown table, for docs/evaluation.md. */
export function markdownTable(rows: Record<string, unknown>[]): string {
  if (!rows.length) return '';
  const keys = Object.keys(rows[0]);
  return [`| ${keys.join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${keys.map((k) => cell(r[k])).join(' | ')} |`)].join('\n');
}

export interface Harness {
  submit(body: unknown, route?: string): Promise<any>;
  get(route: string): Promise<any>;
  close(): Promise<void>;
}

export async function startHarness(workers: number): Promise<Harness> {
  const env = await stackUp(stackProfile('bench'), (l) => console.log(`[stack] ${l}`));
  Object.assign(process.env, env, { LOG_LEVEL: 'warn' });
  const { prisma } = await import('@capillary/db');
  const { buildApp } = await import('@capillary/api');
  const app = await buildApp({ env: parseEnv({ ...process.env, PORT: '0', RATE_LIMIT_MAX: '100000' }), db: prisma(), logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const { key } = await app.apiKeys.create('real-data-eval');
  const children: ChildProcess[] = [];
  for (let i = 0; i < workers; i++) {
    children.push(spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'apps/worker/src/main.ts')], {
      cwd: REPO_ROOT, env: { ...process.env, WORKER_ID: `eval-${i + 1}` }, stdio: ['ignore', 'ignore', 'inherit'],
    }));
  }
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}${route}`, {
      method, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = (await res.json()) as any;
    if (!res.ok) throw new Error(`${method} ${route} -> ${res.status}: ${data.message}`);
    return data;
  };
  return {
    submit: (body, route = '/experiments') => call('POST', route, body),
    get: (route) => call('GET', route),
    async close() {
      for (const c of children) c.kill('SIGTERM');
      await app.close();
    },
  };
}

/** Polls experiments until all have finished, printing each new epoch row. */
export async function follow(h: Harness, ids: string[], label: (id: string) => string) {
  const printed = new Map<string, number>();
  const done = new Map<string, any>();
  while (done.size < ids.length) {
    for (const id of ids) {
      if (done.has(id)) continue;
      const e = await h.get(`/experiments/${id}`);
      for (const m of e.epochMetrics.slice(printed.get(id) ?? 0)) {
        console.log(`${label(id)} epoch ${m.epoch}: train loss ${m.trainLoss.toFixed(4)}, val loss ${m.valLoss?.toFixed(4)}, Dice ${m.dice?.toFixed(4)}, surface Dice ${m.surfaceDice?.toFixed(4)}, lr ${m.learningRate.toExponential(2)}, ${(m.durationMs / 1000).toFixed(1)} s`);
      }
      printed.set(id, e.epochMetrics.length);
      if (['succeeded', 'failed', 'cancelled'].includes(e.status)) done.set(id, e);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  return ids.map((id) => done.get(id));
}
