// A TPE sweep's trials are decided one at a time as others finish: what is written when a trial of
// such a sweep ends, under the sweep's row lock (see SweepRegistry.advanceTpe).
import { randomUUID } from 'node:crypto';
import type { CostLimits, SweepSpec } from '@capillary/contracts';
import type { Prisma } from '@capillary/db';
import { nextTpeTrial, tpeParallelism } from '@capillary/search';
import { queuePriorities } from './fair-share.ts';
import { columnsOf, type RequeuedRow, type Tx } from './row-locks.ts';
import { isTerminal } from './transitions.ts';
import { runnableStatus } from './sweep-cap.ts';

/** Tries of another random stream before a trial whose suggestion breaks the cost limits is given up. */
const REDRAWS = 8;
/** Streams of redraws start past every trial index a sweep can have. */
const REDRAW_STREAM = 1_000_000;

/**
 * Writes the trials a TPE sweep is owed now: it keeps `tpeParallelism` trials unfinished until it
 * holds `trials` in all, each new one decided from the finished trials' validation scores in the
 * order they finished. Idempotent: asked again with nothing new finished, it writes nothing.
 * Under a cap (`maxConcurrent`) no more than that many are unfinished, and the new ones are
 * written held, for the sweep's release to queue. Returns the new queued rows, whose jobs the
 * caller adds after the commit.
 */
export async function decideTpeTrials(tx: Tx, sweepId: string, request: SweepSpec, traceparent: string | undefined, limits?: CostLimits, cap?: number | null): Promise<RequeuedRow[]> {
  // A decided trial is created at the moment its inputs are read, under the lock: the database's
  // now() is the transaction's start, before a wait for the lock during which more trials may end,
  // and the trials that had finished by `createdAt` are then not the ones it was decided from.
  const decidedAt = new Date();
  const rows = await tx.experiment.findMany({
    where: { sweepId },
    orderBy: [{ trialIndex: 'asc' }, { createdAt: 'asc' }],
    select: { id: true, status: true, spec: true, validationScore: true, finishedAt: true, trialIndex: true, apiKeyId: true, projectId: true, createdById: true, datasetId: true, priority: true },
  });
  const template = rows[0];
  if (!template) return [];
  // Finishing order decides: the same sweep finished in the same order decides the same trials.
  const finished = rows
    .filter((r) => isTerminal(r.status))
    .sort((a, b) => (a.finishedAt?.getTime() ?? 0) - (b.finishedAt?.getTime() ?? 0) || (a.trialIndex ?? 0) - (b.trialIndex ?? 0))
    .map((r) => ({ spec: r.spec as Record<string, unknown>, score: r.validationScore }));
  // More trials open than may run would only be decided from less than they could wait for.
  const open = Math.min(tpeParallelism(request), cap ?? Infinity);
  const owed = Math.min(request.trials!, open + finished.length) - rows.length;
  const status = runnableStatus(cap);
  const created: RequeuedRow[] = [];
  for (let k = 0; k < owed; k++) {
    const index = Math.max(rows.length, ...rows.map((r) => (r.trialIndex ?? 0) + 1)) + k;
    const trial = decide(request, index, finished, limits);
    if (!trial) break;
    const [queuePriority] = await queuePriorities(tx, template.createdById, template.priority, 1);
    const row = {
      id: randomUUID(), sweepId, trialIndex: index, spec: trial as unknown as Prisma.InputJsonValue,
      apiKeyId: template.apiKeyId, projectId: template.projectId, createdById: template.createdById, datasetId: template.datasetId, priority: template.priority,
      queuePriority, traceparent, status, createdAt: decidedAt, ...columnsOf(trial),
    };
    await tx.experiment.create({ data: row });
    if (status === 'queued') created.push({ id: row.id, spec: trial, queuePriority, createdById: row.createdById, priority: row.priority });
  }
  return created;
}

/** Trial `index`'s spec, redrawn from other streams while the suggestion breaks a limit; null if none fits. */
function decide(request: SweepSpec, index: number, finished: { spec: Record<string, unknown>; score: number | null }[], limits?: CostLimits) {
  for (let r = 0; r <= REDRAWS; r++) {
    const { trial } = nextTpeTrial(request, r ? REDRAW_STREAM * r + index : index, finished, limits);
    if (trial) return trial.spec;
  }
  return null;
}
