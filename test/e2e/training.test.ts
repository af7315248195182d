import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { prisma } from '@capillary/db';
import { getObject } from '@capillary/storage';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { tensorDigest } from '../checkpoint-digest.ts';
import { openEvents } from '../sse-client.ts';
import { sandboxesOf } from '../drills/kit.ts';
import { onednnUnavailableReason } from '@capillary/engine';

const DATASET = 'e2e-kidney';
let api: RunningApi;
const workers: RunningWorker[] = [];


const experiment = async (id: string) => (await api.request('GET', `/experiments/${id}`)).body;

beforeAll(async () => {
  await seedSyntheticDataset(DATASET, { seed: 7, trainVolumes: 2, validationVolumes: 1, shape: [16, 48, 48] });
  api = await startApi();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await api?.close();
});

describe('an experiment travels API -> queue -> worker -> leaderboard', () => {
  it('POST -> queued -> running -> succeeded, with epoch metrics and a verified checkpoint in S3', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-happy', epochs: 2 }));
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('queued');
    const id = created.body.id;

    // Live events over SSE, collected while it trains.
    const stream = await openEvents(`${api.url}/experiments/${id}/events`, { authorization: `Bearer ${api.key}` });
    expect(stream.status).toBe(200);
    const events = stream.events;

    const seen = new Set<string>();
    workers.push(startWorker());
    const done = await waitUntil('experiment to finish', async () => {
      const e = await experiment(id);
      seen.add(e.status);
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 240_000, 100);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(seen.has('running')).toBe(true);
    await waitUntil('the succeeded event', async () => (events.some((e) => e.event === 'status' && e.data.status === 'succeeded') ? true : undefined), 10_000, 50);
    // The server ends the stream itself after the terminal status.
    await stream.ended;
    expect(events[0].event).toBe('snapshot');
    expect(events.filter((e) => e.event === 'epoch').map((e) => e.data.epoch)).toEqual([1, 2]);
    expect(events.some((e) => e.event === 'progress' && e.data.steps === 3)).toBe(true);
    expect(events.some((e) => e.event === 'status' && e.data.status === 'running')).toBe(true);
    expect(done.epochMetrics.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2]);
    for (const m of done.epochMetrics) {
      expect(m.trainLoss).toBeGreaterThan(0);
      expect(m.dice).toBeGreaterThanOrEqual(0);
    }
    expect(done.backend).toMatch(/onednn|wasm|cpu|tensorflow/);
    // Where the oneDNN addon is built, auto picks it and the experiment records it.
    if (!onednnUnavailableReason() && (process.env.TFJS_BACKEND ?? 'auto') === 'auto') expect(done.backend).toBe('onednn');
    // Retention (CHECKPOINT_KEEP_LAST=1 by default) keeps the best and the last epoch.
    expect(done.checkpoints.map((c: { epoch: number }) => c.epoch)).toEqual([...new Set([done.bestEpoch, 2])].sort((a, b) => a - b));
    const ckpt = done.checkpoints[done.checkpoints.length - 1];
    const bytes = await getObject(ckpt.s3Key);
    expect(bytes).not.toBeNull();
    expect(bytes!.byteLength).toBe(ckpt.bytes);
    expect(createHash('sha256').update(bytes!).digest('hex')).toBe(ckpt.sha256);

    const board = await api.request('GET', '/leaderboard');
    const row = board.body.rows.find((r: { experimentId: string }) => r.experimentId === id);
    expect(row).toMatchObject({ model: 'unet', epochs: 2, lr: 0.003, augmentationP: 0.2, status: 'succeeded' });
    expect(row.score).toBe(done.score);
  });

  it('a worker killed with SIGKILL mid-training: another worker resumes from the last checkpoint', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-kill', epochs: 4, stepsPerEpoch: 4 }));
    const id = created.body.id;
    // Every epoch's checkpoint kept (no retention), so every epoch can be compared below.
    const keepAll = { CHECKPOINT_KEEP_LAST: '100' };
    const first = startWorker({ WORKER_ID: 'doomed', ...keepAll });
    workers.push(first);
    await waitUntil('first epoch stored', async () => ((await experiment(id)).epochMetrics.length >= 1 ? true : undefined), 240_000, 100);
    first.process.kill('SIGKILL');
    // Nothing can commit once the worker is dead: what is stored now is what the kill left.
    const committedBeforeKill = Math.max(...(await prisma().epochMetric.findMany({ where: { experimentId: id } })).map((m) => m.epoch));
    // The sandbox child dies with its parent's IPC channel; the job is left to stalled-job recovery.
    workers.push(startWorker({ WORKER_ID: 'rescuer', ...keepAll }));
    const done = await waitUntil('experiment to finish on the second worker', async () => {
      const e = await experiment(id);
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 300_000, 200);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    expect(done.epochMetrics.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2, 3, 4]);
    const attempts = done.attemptLog;
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts[0].workerId).toBe('doomed');
    const last = attempts[attempts.length - 1];
    expect(last.workerId).toBe('rescuer');
    expect(last.resumedFromEpoch).toBe(committedBeforeKill);
    expect(last.outcome).toBe('succeeded');
    // The dead attempt is closed: the rescuer's pickup superseded it.
    expect(attempts[0].endedAt).not.toBeNull();
    expect(attempts[0].outcome).toBe('superseded');
    expect(attempts.every((a: { endedAt: string | null }) => a.endedAt !== null)).toBe(true);

    // The same spec trained without interruption ends every epoch with the same weights and
    // optimiser state: resuming restored weights, optimiser moments and the sampler exactly.
    const reference = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-kill-reference', epochs: 4, stepsPerEpoch: 4 }));
    const ref = await waitUntil('the uninterrupted reference', async () => {
      const e = await experiment(reference.body.id);
      return ['succeeded', 'failed'].includes(e.status) ? e : undefined;
    }, 300_000, 200);
    expect(ref.status).toBe('succeeded');
    const digests = (e: any) => Promise.all(e.checkpoints.map((c: { s3Key: string }) => tensorDigest(c.s3Key)));
    expect(done.checkpoints.map((c: { epoch: number }) => c.epoch)).toEqual([1, 2, 3, 4]);
    const resumed = await digests(done);
    expect(new Set(resumed).size).toBe(4); // every epoch changed the weights
    expect(resumed).toEqual(await digests(ref));
  });

  it('cancelling a running experiment stops it within 5 s and marks it cancelled', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-cancel', epochs: 50, stepsPerEpoch: 10 }));
    const id = created.body.id;
    const worker = startWorker({ WORKER_ID: 'cancel-worker' });
    workers.push(worker);
    await waitUntil('training to start', async () => ((await experiment(id)).status === 'running' ? true : undefined), 120_000, 100);
    await waitUntil('first progress', async () => ((await experiment(id)).backend ? true : undefined), 60_000, 100);
    const t0 = Date.now();
    expect((await api.request('DELETE', `/experiments/${id}`)).status).toBe(200);
    const cancelled = new Date(); // the cancel is committed once DELETE answers
    const attempt = await waitUntil('the attempt to end as cancelled', async () => {
      const e = await experiment(id);
      const a = e.attemptLog[e.attemptLog.length - 1];
      return a?.outcome === 'cancelled' ? a : undefined;
    }, 5_000, 50);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(attempt.endedAt).not.toBeNull();
    // The worker really stopped: its sandbox is gone within the same 5 s.
    await waitUntil('the sandbox to stop', async () => (sandboxesOf(worker.process.pid!).length === 0 ? true : undefined), 5_000 - (Date.now() - t0), 50);
    const after = await experiment(id);
    expect(after.status).toBe('cancelled');
    // Nothing trained on: no epoch was committed after the cancel, and with no sandbox left none can be.
    expect(await prisma().epochMetric.count({ where: { experimentId: id, createdAt: { gt: cancelled } } })).toBe(0);
    const row = await prisma().experiment.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe('cancelled');
  });
});

describe('predictions from a trained experiment', () => {
  it('predicts every volume of a dataset: masks in the store, scores for labelled volumes, a submission CSV', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-predict', epochs: 1 }));
    const id = created.body.id;
    workers.push(startWorker({ WORKER_ID: 'predictor' }));
    await waitUntil('training', async () => ((await experiment(id)).status === 'succeeded' ? true : undefined), 240_000, 200);
    const bad = await api.request('POST', `/experiments/${id}/predictions`, { dataset: DATASET, options: { axes: ['xy', 'zz'] } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('body/options/axes');
    const options = { axes: ['xy', 'xz'], tta: true, minComponentVoxels: 3 };
    const queued = await api.request('POST', `/experiments/${id}/predictions`, { dataset: DATASET, options });
    expect(queued.status).toBe(201);
    expect(queued.body.options).toMatchObject(options);
    const prediction = await waitUntil('prediction', async () => {
      const p = (await api.request('GET', `/predictions/${queued.body.id}`)).body;
      return ['succeeded', 'failed'].includes(p.status) ? p : undefined;
    }, 240_000, 200);
    expect(prediction.status, prediction.errorMessage ?? '').toBe('succeeded');
    expect(prediction.outputs).toHaveLength(3);
    // Every volume of this dataset is labelled, so every one is scored.
    for (const o of prediction.outputs) {
      expect(o.shape).toEqual([16, 48, 48]);
      expect(typeof o.surfaceDice).toBe('number');
      expect(typeof o.dice).toBe('number');
      expect(o.surfaceDice).toBeGreaterThanOrEqual(0);
      expect(o.surfaceDice).toBeLessThanOrEqual(1);
      expect(o.dice).toBeGreaterThanOrEqual(0);
      expect(o.dice).toBeLessThanOrEqual(1);
    }
    expect(prediction.attempts).toBe(1);
    expect(prediction.csvKey).toMatch(/attempt-001\/submission\.csv$/);
    const csv = await api.fetch(`/predictions/${queued.body.id}/submission.csv`).then((r) => r.text());
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('id,rle');
    expect(lines).toHaveLength(1 + 3 * 16);
    expect(lines[1]).toMatch(/^synthetic_00_0000,/);
    // The stored mask and the CSV row say the same thing.
    const { openVolume } = await import('@capillary/volumes');
    const { rleDecode } = await import('@capillary/metric');
    const o = prediction.outputs[0];
    const mask = openVolume({ id: 'mask', imageKey: o.maskKey, dtype: 'uint8', depth: 16, height: 48, width: 48, stats: {} });
    const slice5 = await mask.readImage('z', 5, 1);
    const row5 = lines.find((l: string) => l.startsWith('synthetic_00_0005,'))!.split(',')[1];
    expect(Array.from(rleDecode(row5, 48, 48))).toEqual(Array.from(slice5, (v) => (v ? 1 : 0)));
  });

  it('capillary predict runs the same in the foreground, records the row through the registry, and exits', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const trained = await prisma().experiment.findFirstOrThrow({ where: { name: 'e2e-predict', status: 'succeeded' } });
    const t0 = Date.now();
    // A command that never exits fails here on the timeout instead of hanging the suite.
    const { stdout } = await promisify(execFile)(process.execPath, ['apps/cli/bin/capillary.mjs', 'predict', '--experiment', trained.id, '--dataset', DATASET], { cwd: process.cwd(), timeout: 120_000, env: process.env });
    expect(Date.now() - t0).toBeLessThan(120_000);
    const out = JSON.parse(stdout.slice(stdout.indexOf('{')));
    const row = await prisma().prediction.findUniqueOrThrow({ where: { id: out.predictionId } });
    expect(row.status).toBe('succeeded');
    expect(row.attempts).toBe(1);
    expect(row.csvKey).toBe(out.csvKey);
    expect(out.outputs).toHaveLength(3);
  });

  it('refuses a prediction for an unknown dataset or an experiment without checkpoints', async () => {
    const created = await api.request('POST', '/experiments', tinySpec(DATASET, { name: 'e2e-no-ckpt' }));
    const noCkpt = await api.request('POST', `/experiments/${created.body.id}/predictions`, { dataset: DATASET });
    expect(noCkpt.status).toBe(409);
    await api.request('DELETE', `/experiments/${created.body.id}`);
  });
});
