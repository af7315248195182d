// Public and private test scores: written at the end of every run through the registry, ranked by
// the public one, the private one answered by no route before the close, and equal to what
// `capillary predict` gives on the same volumes with the same options.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { seedSyntheticDataset } from '@capillary/cli/demo';
import { startApi, startWorker, tinySpec, waitUntil, type RunningApi, type RunningWorker } from '../harness.ts';
import { openEvents, type EventStream } from '../sse-client.ts';

const DATASET = 'e2e-kidney-tests';
/** No validation volumes: runs validate on their training volumes. */
const NO_VALIDATION = 'e2e-kidney-noval';
// Not the spec's axes (xy): the end-of-run scoring must use these. (Flip TTA would average so short
// a training's probabilities below any threshold.)
const PREDICT = { axes: ['xy', 'xz'] };
let api: RunningApi;
const workers: RunningWorker[] = [];

const experiment = async (id: string) => (await api.request('GET', `/experiments/${id}`)).body;
const finished = (id: string, timeoutMs = 300_000) =>
  waitUntil(`experiment ${id} to finish`, async () => {
    const e = await experiment(id);
    return ['succeeded', 'failed', 'cancelled'].includes(e.status) ? e : undefined;
  }, timeoutMs, 250);

/** Mean surface Dice of one role's volumes in a prediction's outputs. */
const meanOf = (outputs: { role: string; surfaceDice: number | null }[], role: string) => {
  const xs = outputs.filter((o) => o.role === role).map((o) => o.surfaceDice!);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
};

/**
 * A score as 15 significant digits: scores are stored as Postgres double precision, and the write
 * through Prisma keeps 16 significant digits, so the last bit of a double may not survive.
 */
const digits = (x: number) => x.toPrecision(15);

/** `npx capillary predict` in the foreground, as a user runs it. */
async function cliPredict(experimentId: string, dataset: string) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['apps/cli/bin/capillary.mjs', 'predict', '--experiment', experimentId, '--dataset', dataset, '--axes', PREDICT.axes.join(',')],
    { cwd: process.cwd(), timeout: 180_000, env: process.env },
  );
  return JSON.parse(stdout.slice(stdout.indexOf('{'))) as { outputs: { role: string; surfaceDice: number | null; volume: string }[] };
}

/** A response (or event) that tells none of the stored private scores. */
function expectNoPrivate(what: string, body: unknown, secrets: number[]) {
  const text = JSON.stringify(body);
  expect(text, what).not.toMatch(/"privateScore":\s*-?\d/);
  // A score like 0 or 0.5 could appear for other reasons; one with many digits cannot.
  for (const s of secrets.filter((x) => String(x).length > 6)) expect(text.includes(String(s)), `${what} contains the private score ${s}`).toBe(false);
}

beforeAll(async () => {
  // synthetic_00, 01 train; 02 validation; 03, 04 public test; 05 private test.
  await seedSyntheticDataset(DATASET, { seed: 21, trainVolumes: 2, validationVolumes: 1, publicTestVolumes: 2, privateTestVolumes: 1, shape: [16, 48, 48] });
  await seedSyntheticDataset(NO_VALIDATION, { seed: 22, trainVolumes: 2, validationVolumes: 0, privateTestVolumes: 1, shape: [16, 48, 48] });
  api = await startApi();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});
afterAll(async () => {
  await api?.close();
});

describe('public and private test scores', () => {
  it('a sweep ranks by public-test surface Dice; no route tells a private score before the close; after it every row has one, equal to capillary predict', async () => {
    const refused = await api.request('POST', '/experiments', tinySpec(DATASET, { validationVolumes: ['synthetic_05'] }));
    expect(refused.status).toBe(400);
    expect(refused.body.issues[0].field).toBe('/validationVolumes');
    expect(refused.body.message).toMatch(/test volume/);

    const created = await api.request('POST', '/sweeps', {
      name: 'e2e test scores',
      // A low threshold: so short a training leaves probabilities low, and empty masks would
      // make every score 0 (and the comparisons below hollow).
      base: tinySpec(DATASET, { epochs: 2, stepsPerEpoch: 4, threshold: 0.2, predict: PREDICT }),
      grid: { lr: [0.003, 0.002, 0.001] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const sweepId: string = created.body.id;
    const ids: string[] = created.body.experiments.map((e: { id: string }) => e.id);
    const streams = new Map<string, EventStream>();
    for (const id of ids) streams.set(id, await openEvents(`${api.url}/experiments/${id}/events`, { authorization: `Bearer ${api.key}` }));

    // The first worker is stopped (SIGTERM) as soon as a run is scoring its test volumes: the
    // next attempt must score the same checkpoint again, and write the same kind of result.
    const first = startWorker({ WORKER_ID: 'scores-first' });
    workers.push(first);
    const handedOver = await waitUntil('a run scoring its test volumes', async () => {
      for (const [id, s] of streams) if (s.events.some((e) => e.event === 'scoring')) return id;
      return undefined;
    }, 300_000, 20);
    await first.stop();
    const stoppedDuring = await experiment(handedOver);
    workers.push(startWorker({ WORKER_ID: 'scores-second' }));
    const done = await Promise.all(ids.map((id) => finished(id)));
    for (const e of done) expect(e.status, e.errorMessage ?? '').toBe('succeeded');

    // Handed over while scoring (not yet scored), and the rescue went straight to the scoring.
    expect(stoppedDuring.scoreSource).not.toBe('public_test');
    const rescued = done.find((e) => e.id === handedOver);
    const lastAttempt = rescued.attemptLog[rescued.attemptLog.length - 1];
    expect(rescued.attemptLog.length).toBeGreaterThanOrEqual(2);
    expect(lastAttempt.workerId).toBe('scores-second');
    expect(lastAttempt.resumedFromEpoch).toBe(2);
    expect((await prisma().epochMetric.findMany({ where: { experimentId: handedOver } })).every((m) => m.commits === 1)).toBe(true);

    // Scored on the public test volumes, stored privately; the best epoch by the one rule.
    const rows = await prisma().experiment.findMany({ where: { sweepId }, include: { epochMetrics: true } });
    const secrets = rows.map((r) => r.privateScore!);
    for (const r of rows) {
      expect(r.scoreSource).toBe('public_test');
      expect(r.validatedOnTraining).toBe(false);
      expect(r.privateScore).toEqual(expect.any(Number));
      expect(r.testScoredEpoch).toBe(r.bestEpoch);
      const best = [...r.epochMetrics].sort((a, b) => a.epoch - b.epoch).reduce((b, m) => ((m.surfaceDice ?? m.dice)! > (b.surfaceDice ?? b.dice)! ? m : b));
      expect(r.bestEpoch).toBe(best.epoch);
      expect(r.validationScore).toBe(best.surfaceDice ?? best.dice);
    }

    // Masks that are not empty: the equalities below compare real numbers.
    expect(Math.max(...secrets)).toBeGreaterThan(0);
    expect(Math.max(...rows.map((r) => r.score!))).toBeGreaterThan(0);

    const board = (await api.request('GET', `/leaderboard?sweepId=${sweepId}`)).body.rows;
    expect(board).toHaveLength(3);
    expect(board.map((r: { rank: number }) => r.rank)).toEqual([1, 2, 3]);
    const scores = board.map((r: { score: number }) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    for (const r of board) {
      expect(r).toMatchObject({ scoreSource: 'public_test', validatedOnTraining: false, privateRevealed: false, privateScore: null });
      expect(r.score).toBe(rows.find((x) => x.id === r.experimentId)!.score);
    }

    // A prediction of the dataset made now: its private-test volume keeps its scores to itself.
    const queued = await api.request('POST', `/experiments/${ids[0]}/predictions`, { dataset: DATASET, options: PREDICT });
    expect(queued.status).toBe(201);
    const prediction = await waitUntil('the prediction', async () => {
      const p = (await api.request('GET', `/predictions/${queued.body.id}`)).body;
      return ['succeeded', 'failed'].includes(p.status) ? p : undefined;
    }, 240_000, 250);
    expect(prediction.status, prediction.errorMessage ?? '').toBe('succeeded');
    const privateOut = prediction.outputs.find((o: { role: string }) => o.role === 'private_test');
    expect(privateOut).toMatchObject({ surfaceDice: null, dice: null });
    expect(prediction.outputs.find((o: { role: string }) => o.role === 'public_test').surfaceDice).toEqual(expect.any(Number));

    // Every route, before the close.
    const ours = (b: { predictions: { experimentId: string }[] }) => ({ ...b, predictions: b.predictions.filter((p) => ids.includes(p.experimentId)) });
    const privateVolume = await prisma().volume.findFirstOrThrow({ where: { dataset: { name: DATASET }, role: 'private_test' } });
    const answers: [string, unknown][] = [
      ['POST /sweeps', created.body],
      ['GET /leaderboard', (await api.request('GET', `/leaderboard?sweepId=${sweepId}`)).body],
      ['GET /experiments', (await api.request('GET', `/experiments?sweepId=${sweepId}`)).body],
      ['GET /sweeps', (await api.request('GET', '/sweeps')).body],
      ['GET /predictions/:id', prediction],
      ['GET /experiments/:id/predictions', (await api.request('GET', `/experiments/${ids[0]}/predictions`)).body],
      // Only this sweep's predictions: earlier runs of this file predicted the same volume, closed.
      ['GET /volumes/:id', ours((await api.request('GET', `/volumes/${privateVolume.id}`)).body)],
    ];
    for (const id of ids) answers.push([`GET /experiments/${id}`, await experiment(id)]);
    for (const [id, s] of streams) answers.push([`events of ${id}`, s.events]);
    for (const [what, body] of answers) expectNoPrivate(what, body, secrets);
    const onVolume = (answers.find(([w]) => w === 'GET /volumes/:id')![1] as { predictions: { id: string }[] }).predictions;
    expect(onVolume.find((p) => p.id === queued.body.id)).toMatchObject({ status: 'succeeded', surfaceDice: null, dice: null });
    // The scoring phase showed in the events, ending with the public score.
    const events = streams.get(handedOver)!.events;
    expect(events.filter((e) => e.event === 'scoring').every((e) => e.data.volumes === 3)).toBe(true);
    expect(events.find((e) => e.event === 'scored')?.data).toMatchObject({ scoreSource: 'public_test', score: rescued.score });

    // Members of a sweep close with it, never one by one.
    expect((await api.request('POST', `/experiments/${ids[0]}/close`)).status).toBe(409);
    expect((await api.request('POST', `/sweeps/${sweepId}/close`)).status).toBe(200);

    const revealed = (await api.request('GET', `/leaderboard?sweepId=${sweepId}`)).body.rows;
    for (const r of revealed) {
      expect(r.privateRevealed).toBe(true);
      expect(r.privateScore).toBe(rows.find((x) => x.id === r.experimentId)!.privateScore);
      expect((await experiment(r.experimentId)).privateScore).toBe(r.privateScore);
    }
    const after = (await api.request('GET', `/predictions/${queued.body.id}`)).body;
    expect(digits(after.outputs.find((o: { role: string }) => o.role === 'private_test').surfaceDice)).toBe(digits(revealed.find((r: { experimentId: string }) => r.experimentId === ids[0]).privateScore));

    // The same numbers as `capillary predict` with the same options, on the same volumes.
    for (const r of revealed) {
      const out = await cliPredict(r.experimentId, DATASET);
      expect(digits(meanOf(out.outputs, 'private_test'))).toBe(digits(r.privateScore));
      expect(digits(meanOf(out.outputs, 'public_test'))).toBe(digits(r.score));
    }
  }, 900_000);

  it('the end-of-run scoring is held to the prediction budget: a spec whose test scoring is over it is a 400 naming the field', async () => {
    const small = await startApi({ MAX_PREDICTION_VOXEL_PASSES: '50000' });
    try {
      // 16 x 48 x 48 private-test voxels x 3 axes x 4 flips = 442,368 passes; x 2 axes = 73,728.
      const over = await small.request('POST', '/experiments', tinySpec(NO_VALIDATION, { predict: { axes: ['xy', 'xz', 'yz'], tta: true } }));
      expect(over.status).toBe(400);
      expect(over.body.issues[0].field).toBe('/predict/tta');
      expect(over.body.message).toMatch(/MAX_PREDICTION_VOXEL_PASSES/);
      const sweep = await small.request('POST', '/sweeps', { name: 'over budget', base: tinySpec(NO_VALIDATION, { predict: { axes: ['xy', 'xz'] } }), grid: { lr: [0.1, 0.2] } });
      expect(sweep.status).toBe(400);
      expect(sweep.body.issues[0].field).toBe('/base/predict/axes');
      expect(await prisma().experiment.count({ where: { dataset: { name: NO_VALIDATION }, status: 'queued' } })).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('a lone experiment that validated on its training volumes is marked so, and shows its private score once closed', async () => {
    workers.push(startWorker({ WORKER_ID: 'scores-lone' }));
    const created = await api.request('POST', '/experiments', tinySpec(NO_VALIDATION, { name: 'e2e-lone-tests', epochs: 2, stepsPerEpoch: 4, threshold: 0.2 }));
    expect(created.status).toBe(201);
    const id = created.body.id;
    const done = await finished(id);
    expect(done.status, done.errorMessage ?? '').toBe('succeeded');
    const row = await prisma().experiment.findUniqueOrThrow({ where: { id } });
    expect(row.privateScore).toEqual(expect.any(Number));
    // No public-test volumes: the score is the validation score, measured on the training volumes.
    expect(done).toMatchObject({ scoreSource: 'training', validatedOnTraining: true, privateRevealed: false, closedAt: null });
    expect(done.score).toBe(done.validationScore);
    expect(done).not.toHaveProperty('privateScore');
    const lb = (await api.request('GET', '/leaderboard')).body.rows.find((r: { experimentId: string }) => r.experimentId === id);
    expect(lb).toMatchObject({ scoreSource: 'training', validatedOnTraining: true, privateScore: null });
    expectNoPrivate('GET /leaderboard', lb, [row.privateScore!]);

    const closed = await api.request('POST', `/experiments/${id}/close`);
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ privateRevealed: true, privateScore: row.privateScore });
    expect(closed.body.closedAt).toEqual(expect.any(String));
    const again = await api.request('POST', `/experiments/${id}/close`);
    expect(again.body.closedAt).toBe(closed.body.closedAt);
    const after = (await api.request('GET', '/leaderboard')).body.rows.find((r: { experimentId: string }) => r.experimentId === id);
    expect(after.privateScore).toBe(row.privateScore);
    expect((await api.request('POST', '/experiments/00000000-0000-4000-8000-000000000000/close')).status).toBe(404);
    expect((await api.request('POST', `/experiments/${id}/close`, undefined, { auth: false })).status).toBe(401);
  }, 300_000);
});
