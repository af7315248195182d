import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { queueKey } from '@capillary/queue';
import { prisma } from '@capillary/db';
import { startApi, type RunningApi } from '../../../test/harness.ts';

const DATASET = 'leaderboard-fixture';

describe('sweeps, listing and the leaderboard', () => {
  let api: RunningApi;
  let redis: Redis;
  beforeAll(async () => {
    await prisma().dataset.upsert({ where: { name: DATASET }, update: {}, create: { name: DATASET } });
    api = await startApi();
    redis = new Redis(process.env.REDIS_URL!);
  });
  afterAll(async () => {
    await api.close();
    redis.disconnect();
  });

  it('a sweep grid becomes one experiment per combination, each with a queued job', async () => {
    const res = await api.request('POST', '/sweeps', {
      name: 'seed table',
      base: { dataset: DATASET, model: 'unet25d', encoder: 'resnext50', epochs: 19, augmentationP: 0.5 },
      grid: { lr: [0.0006, 0.00006], epochs: [16, 19, 27] },
    });
    expect(res.status).toBe(201);
    const exps = res.body.experiments;
    expect(exps).toHaveLength(6);
    expect(new Set(exps.map((e: any) => `${e.lr}/${e.epochs}`)).size).toBe(6);
    for (const e of exps) {
      expect(e.spec.slices).toBe(3); // the 2.5D default
      expect(e.inputMode).toBe('2.5d');
      expect(await redis.exists(queueKey('training', e.id))).toBe(1);
    }
    const listed = await api.request('GET', `/experiments?sweepId=${res.body.id}&limit=4&offset=0`);
    expect(listed.body.total).toBe(6);
    expect(listed.body.items).toHaveLength(4);
    const page2 = await api.request('GET', `/experiments?sweepId=${res.body.id}&limit=4&offset=4`);
    expect(page2.body.items).toHaveLength(2);
    // Clean up the queue so no worker in a later test trains these.
    for (const e of exps) expect((await api.request('DELETE', `/experiments/${e.id}`)).status).toBe(200);
    const cancelled = await api.request('GET', `/experiments?sweepId=${res.body.id}&status=cancelled`);
    expect(cancelled.body.total).toBe(6);
  });

  it('ranks by score, ties to the earlier finish, unscored last; private scores hidden until the sweep closes', async () => {
    const db = prisma();
    const ds = await db.dataset.findUniqueOrThrow({ where: { name: DATASET } });
    const sweepId = randomUUID();
    await db.sweep.create({ data: { id: sweepId, name: 'ranking', grid: {} } });
    const base = { datasetId: ds.id, sweepId, spec: {}, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 1, lr: 0.001, augmentationP: 0, batchSize: 1, seed: 0 };
    const t = Date.now();
    const rows = [
      { name: 'late-tie', score: 0.6, finishedAt: new Date(t + 2000), status: 'succeeded' as const, privateScore: 0.5 },
      { name: 'best', score: 0.9, finishedAt: new Date(t + 5000), status: 'succeeded' as const, privateScore: 0.4 },
      { name: 'early-tie', score: 0.6, finishedAt: new Date(t + 1000), status: 'succeeded' as const, privateScore: 0.3 },
      { name: 'unscored', score: null, finishedAt: null, status: 'queued' as const, privateScore: null },
    ];
    for (const r of rows) await db.experiment.create({ data: { ...base, ...r, startedAt: new Date(t) } });
    expect((await api.request('GET', `/leaderboard?sweepId=${sweepId}`, undefined, { auth: false })).status).toBe(401);
    const board = await api.request('GET', `/leaderboard?sweepId=${sweepId}`);
    expect(board.status).toBe(200);
    expect(board.body.rows.map((r: any) => r.name)).toEqual(['best', 'early-tie', 'late-tie', 'unscored']);
    expect(board.body.rows.map((r: any) => r.rank)).toEqual([1, 2, 3, null]);
    expect(board.body.rows[0]).toMatchObject({ model: 'unet', epochs: 1, lr: 0.001, augmentationP: 0, score: 0.9, status: 'succeeded', durationMs: 5000 });
    expect(board.body.rows.every((r: any) => r.privateScore === null)).toBe(true);
    expect((await api.request('POST', `/sweeps/${sweepId}/close`)).status).toBe(200);
    const closed = await api.request('GET', `/leaderboard?sweepId=${sweepId}`);
    expect(closed.body.rows[0].privateScore).toBe(0.4);
  });
});
