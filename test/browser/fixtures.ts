// Leaderboard rows written straight into the database: many experiments in sweeps, without training.
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '@capillary/db';
import { Rng } from '@capillary/volumes';

export interface SeededBoard {
  datasetId: string;
  sweeps: { id: string; name: string; closed: boolean; experimentIds: string[] }[];
  experimentIds: string[];
}

/** The project's seeded generator, so every run sees the same values. */
function rng(seed: number): () => number {
  const r = Rng.of(seed);
  return () => r.float();
}

/**
 * `count` experiments named `${prefix}-0001`..., in sweeps of `perSweep` over lr x epochs (model and
 * encoder fixed within a sweep, so they are the shared fields); every other sweep is closed and shows
 * its private scores. Most runs succeeded with a score; a few are queued, running or failed.
 */
export async function seedBoard(db: PrismaClient, opts: { prefix: string; count: number; perSweep?: number; seed?: number }): Promise<SeededBoard> {
  const rand = rng(opts.seed ?? 1);
  const perSweep = opts.perSweep ?? 8;
  const dataset = await db.dataset.upsert({ where: { name: `${opts.prefix}-ds` }, create: { name: `${opts.prefix}-ds` }, update: {} });
  const models = ['unet', 'unet25d', 'attention-unet'] as const;
  const lrs = [0.003, 0.001, 0.0006, 0.00006];
  const sweeps: SeededBoard['sweeps'] = [];
  const rows: Prisma.ExperimentCreateManyInput[] = [];
  const t0 = Date.now() - opts.count * 60_000;
  for (let i = 0; i < opts.count; i++) {
    if (i % perSweep === 0) {
      const s = sweeps.length;
      sweeps.push({ id: randomUUID(), name: `${opts.prefix} sweep ${s + 1}`, closed: s % 2 === 1, experimentIds: [] });
    }
    const sweep = sweeps[sweeps.length - 1];
    const k = i % perSweep;
    const model = models[sweeps.length % models.length];
    const r = rand();
    const status = r < 0.9 ? 'succeeded' : r < 0.94 ? 'running' : r < 0.97 ? 'queued' : 'failed';
    const score = status === 'succeeded' ? Math.round(rand() * 9000) / 10000 : null;
    const started = new Date(t0 + i * 60_000);
    const id = randomUUID();
    sweep.experimentIds.push(id);
    const spec = { dataset: dataset.name, model, encoder: model === 'attention-unet' ? 'plain' : 'resnext50', epochs: 10 + (k % 2) * 9, lr: lrs[Math.floor(k / 2) % lrs.length], augmentationP: 0.5 };
    rows.push({
      id,
      name: `${opts.prefix}-${String(i + 1).padStart(4, '0')}`,
      spec,
      datasetId: dataset.id,
      sweepId: sweep.id,
      model,
      encoder: spec.encoder,
      inputMode: model === 'unet25d' ? '2.5d' : '2d',
      epochs: spec.epochs,
      lr: spec.lr,
      augmentationP: 0.5,
      batchSize: 4,
      seed: 0,
      status,
      attempts: status === 'queued' ? 0 : 1,
      backend: status === 'queued' ? null : 'wasm',
      score,
      // Every fifth run had no validation volumes: validated (and scored) on its training volumes.
      scoreSource: score === null ? null : i % 5 === 0 ? 'training' : 'public_test',
      validatedOnTraining: i % 5 === 0,
      bestEpoch: score === null ? null : 1 + Math.floor(rand() * spec.epochs),
      privateScore: score === null ? null : Math.round(score * (0.7 + rand() * 0.3) * 10000) / 10000,
      createdAt: started,
      startedAt: status === 'queued' ? null : started,
      finishedAt: status === 'succeeded' || status === 'failed' ? new Date(started.getTime() + 30_000 + Math.floor(rand() * 600_000)) : null,
    });
  }
  await db.sweep.createMany({
    data: sweeps.map((s) => ({ id: s.id, name: s.name, grid: {}, closedAt: s.closed ? new Date() : null })),
  });
  for (let i = 0; i < rows.length; i += 500) await db.experiment.createMany({ data: rows.slice(i, i + 500) });
  return { datasetId: dataset.id, sweeps, experimentIds: rows.map((r) => r.id!) };
}
