// `npm run demo`: the whole of Capillary on this machine. Starts the local stack, seeds a small
// synthetic dataset, runs the API (with the dashboard) and two workers, submits an example sweep,
// prints `ready`, and on SIGINT/SIGTERM stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, stackProfile, stackUp, stackDown, stackStatus } from '@capillary/devstack';

const log = (m: string) => console.log(`[demo] ${m}`);
const profile = stackProfile(process.env.CAPILLARY_PROFILE ?? 'dev');
const port = Number(process.env.PORT ?? 3000);
const workers = Number(process.env.DEMO_WORKERS ?? 2);
const children: ChildProcess[] = [];
let stopping = false;

const wasRunning = Object.values(await stackStatus(profile)).every((s) => s === 'running');
const stackEnv = await stackUp(profile, (l) => log(`stack: ${l}`));
Object.assign(process.env, stackEnv);

async function stopAll(code: number) {
  // A second Ctrl-C while stopping must not kill this process before the stack is down.
  if (stopping) return log('already stopping: waiting for the workers to hand their runs back');
  stopping = true;
  log('stopping');
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
  if (!wasRunning) await stackDown(profile, (l) => log(`stack: ${l}`));
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

function start(name: string, script: string, extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (code ${code}, signal ${signal}); stopping the demo`);
      void stopAll(1);
    }
  });
  children.push(child);
  return child;
}

try {
  const { seedDemoData } = await import('@capillary/cli/demo');
  const seeded = await seedDemoData((m) => log(m));
  start('api', 'apps/api/src/server.ts', { PORT: String(port), HOST: process.env.HOST ?? '127.0.0.1' });
  for (let i = 1; i <= workers; i++) start(`worker-${i}`, 'apps/worker/src/main.ts', { WORKER_ID: `demo-worker-${i}` });

  const base = `http://127.0.0.1:${port}`;
  const until = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > until) throw new Error(`the API did not answer on ${base} within 60 s`);
    await new Promise((r) => setTimeout(r, 300));
  }
  const sweep: { status: number; body: any } = await fetch(`${base}/sweeps`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${seeded.apiKey}` },
    body: JSON.stringify(seeded.exampleSweep),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  if (sweep.status !== 201) throw new Error(`submitting the example sweep failed: ${JSON.stringify(sweep.body)}`);
  log(`example sweep ${sweep.body.id}: ${sweep.body.experiments.length} experiments queued`);
  // Reads need a sign-in (AUTH_READS=required): this key opens the dashboard, as an admin of `default`.
  log(`API key for this demo, to sign in to the dashboard (shown only now): ${seeded.apiKey}`);
  console.log(`[demo] ready: dashboard ${base}/ (sign in with the API key above)  API docs ${base}/docs`);
} catch (e) {
  console.error(`[demo] failed: ${(e as Error).stack ?? e}`);
  await stopAll(1);
}
