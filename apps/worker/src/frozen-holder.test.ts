import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { IDLE_IN_TRANSACTION_TIMEOUT_MS, prisma } from '@capillary/db';
import { ExperimentRegistry } from '@capillary/registry';
import { waitOut } from './outage.ts';

// A worker frozen (SIGSTOP) in the middle of a registry transaction holds the experiment's row
// lock. The worker that takes the run over must not wait on it for ever.
describe('a row lock held by a frozen process', () => {
  const db = prisma();
  const registry = new ExperimentRegistry(db);
  let datasetId: string;
  let frozen: pg.Client;
  beforeAll(async () => {
    datasetId = (await db.dataset.create({ data: { name: `frozen-${randomUUID().slice(0, 8)}` } })).id;
    // Connected as every Capillary process is: same idle-in-transaction limit.
    frozen = new pg.Client({ connectionString: process.env.DATABASE_URL, idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS });
    frozen.on('error', () => undefined); // Postgres ends its session: that is the point.
    await frozen.connect();
  });
  afterAll(async () => {
    await frozen.end().catch(() => undefined);
    await db.experiment.deleteMany({ where: { datasetId } });
    await db.dataset.delete({ where: { id: datasetId } });
  });

  it('is released when Postgres ends the idle session, and the next attempt opens', async () => {
    const id = randomUUID();
    await registry.create({ id, spec: {}, datasetId, model: 'unet', encoder: 'plain', inputMode: '2d', epochs: 2, lr: 0.01, augmentationP: 0, batchSize: 1, seed: 0 });
    await registry.openAttempt(id, 'frozen-worker');
    // The frozen worker's transaction: the row lock taken, then silence.
    await frozen.query('BEGIN');
    await frozen.query('SELECT id FROM "Experiment" WHERE id = $1::uuid FOR UPDATE', [id]);
    const t0 = Date.now();
    const { fence } = await waitOut(() => registry.openAttempt(id, 'taker'), { maxMs: 60_000 });
    const waited = Date.now() - t0;
    expect(fence.attempt).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(IDLE_IN_TRANSACTION_TIMEOUT_MS - 1000);
    expect(waited).toBeLessThan(IDLE_IN_TRANSACTION_TIMEOUT_MS + 15_000);
    // The frozen process finds its session gone when it wakes.
    await expect(frozen.query('SELECT 1')).rejects.toThrow();
  }, 90_000);
});
