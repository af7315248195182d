// `capillary predict` computes in its own process while an API's reconciler runs: the reconciler
// must see the CLI's heartbeat and leave its prediction alone (no second attempt, no second
// computation by a worker), and the CLI must finish and exit 0.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '../demo/seed.ts';
import { startApi, trainedExperiment, type RunningApi } from '../../../../test/harness.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const bin = path.join(repoRoot, 'apps/cli/bin/capillary.mjs');
const DATASET = 'cli-predict-reconciler';
/** The API forgets a holder unheard of for this long; the reconciler looks this often. */
const TTL_MS = 1_500;
const INTERVAL_MS = 250;

let api: RunningApi;
let experimentId: string;
beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 31, trainVolumes: 1, validationVolumes: 1, shape: [24, 96, 96] });
  // Trained before the reconciler runs: the fixture writes a run no worker beats for.
  experimentId = await trainedExperiment(DATASET);
  api = await startApi({ RECONCILER: 'true', RECONCILE_INTERVAL_MS: String(INTERVAL_MS), HEARTBEAT_TTL_MS: String(TTL_MS) });
});
afterAll(() => api?.close());

it('a prediction computed by the CLI for longer than the heartbeat TTL keeps its one attempt, and the CLI exits 0', async () => {
  const started = Date.now();
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, 'predict', '--experiment', experimentId, '--dataset', DATASET, '--axes', 'xy,xz,yz', '--tta'], {
      cwd: repoRoot, env: { ...process.env, HEARTBEAT_INTERVAL_MS: String(INTERVAL_MS) }, maxBuffer: 64 * 2 ** 20,
    }, (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }));
  });
  const tookMs = Date.now() - started;
  expect(r.stderr).not.toMatch(/fenced/);
  expect(r.code).toBe(0);
  const { predictionId } = JSON.parse(r.stdout) as { predictionId: string };
  const row = await prisma().prediction.findUniqueOrThrow({ where: { id: predictionId } });
  expect(row.status).toBe('succeeded');
  expect(row.attempts).toBe(1);
  expect(row.workerId).toMatch(/^cli-/);
  // The check means something only if the reconciler had time to take the prediction for lost.
  expect(tookMs).toBeGreaterThan(3 * TTL_MS);
  // Nothing queued it for a worker: the queue never held a job for it.
  expect(await api.app.queues.queue('prediction').getJob(predictionId)).toBeUndefined();
}, 300_000);
