import { activeTraceparent } from '@capillary/telemetry';
import type { CostLimits, SweepSpec } from '@capillary/contracts';
import type { Prisma, PrismaClient } from '@capillary/db';
import { decide, pauseEpochOf, rungEpochs, type AshaConfig } from './asha.ts';
import { queuePriorities } from './fair-share.ts';
import { lockSweep, moveWhere, type NewExperiment, type RequeuedRow, type Tx } from './row-locks.ts';
import { RERUN, type RunStatus } from './transitions.ts';
import { decideTpeTrials } from './tpe-trials.ts';
import { recordSweepDecided, type WebhookDispatch } from './webhooks.ts';

export type { RequeuedRow } from './row-locks.ts';

/** The sweep row as created: its request, strategy and ASHA settings. */
export interface NewSweep {
  id: string;
  name: string;
  grid: Prisma.InputJsonValue;
  strategy?: string;
  asha?: Prisma.InputJsonValue;
  /** unset: the `default` project (the database's default) */
  projectId?: string;
  createdById?: string | null;
}

const REQUEUED = { id: true, spec: true, queuePriority: true, createdById: true, priority: true } as const;

/**
 * The writer of sweeps and of what is decided for a sweep's trials together: creation and
 * extension, ASHA promotions, re-runs and the close that reveals private scores. Decisions about one
 * sweep are made under its row lock, so two deciders never interleave.
 */
export class SweepRegistry {
  /** `webhooks`: queues the `sweep.finished` deliveries a decision wrote, after its commit. */
  constructor(private readonly db: PrismaClient, private readonly webhooks: WebhookDispatch = () => undefined) {}

  /** A sweep and its experiments, in one transaction (all of one API key and level); returns each row's queue priority. */
  async createSweep(sweep: NewSweep, rows: NewExperiment[], admit?: (tx: Tx) => Promise<void>) {
    const traceparent = activeTraceparent();
    return this.db.$transaction(async (tx) => {
      await admit?.(tx);
      const places = await queuePriorities(tx, rows[0]?.createdById ?? null, rows[0]?.priority, rows.length);
      const placed = rows.map((r, i) => ({ ...r, queuePriority: places[i], traceparent }));
      await tx.sweep.create({ data: sweep });
      await tx.experiment.createMany({ data: placed });
      return placed.map((r) => ({ id: r.id!, queuePriority: r.queuePriority }));
    });
  }

  /** More trials for an existing sweep (`POST /sweeps/:id/extend`), queued like the first ones. */
  async addToSweep(sweepId: string, rows: NewExperiment[], admit?: (tx: Tx) => Promise<void>) {
    const traceparent = activeTraceparent();
    return this.db.$transaction(async (tx) => {
      await lockSweep(tx, sweepId);
      await admit?.(tx);
      const places = await queuePriorities(tx, rows[0]?.createdById ?? null, rows[0]?.priority, rows.length);
      const placed = rows.map((r, i) => ({ ...r, sweepId, queuePriority: places[i], traceparent }));
      await tx.experiment.createMany({ data: placed });
      return placed.map((r) => ({ id: r.id!, queuePriority: r.queuePriority }));
    });
  }

  async discardSweep(sweepId: string): Promise<void> {
    await this.db.$transaction([
      this.db.experiment.deleteMany({ where: { sweepId, status: 'queued', attempts: 0 } }),
      this.db.sweep.delete({ where: { id: sweepId } }),
    ]);
  }

  /**
   * Applies every ASHA decision the sweep's trials call for (see asha.ts), under the sweep's row
   * lock so two deciders never interleave: promoted trials go paused -> queued at their next rung,
   * the others paused -> stopped with their rung. Returns the promoted rows, whose jobs the caller
   * queues after this commit (and undoes with `unpromote` if the queue refuses).
   */
  async advanceAsha(sweepId: string): Promise<{ promoted: (RequeuedRow & { fromRung: number })[]; stopped: string[] }> {
    const { deliveries, ...decided } = await this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      if (!sweep || sweep.strategy !== 'asha' || !sweep.asha) return { promoted: [], stopped: [], deliveries: [] };
      const config = sweep.asha as unknown as AshaConfig;
      const rungs = rungEpochs(config);
      const rows = await tx.experiment.findMany({
        where: { sweepId },
        select: { id: true, status: true, rung: true, trialIndex: true, epochMetrics: { select: { epoch: true, surfaceDice: true, dice: true } } },
      });
      const trials = rows.map((r, i) => ({
        id: r.id, status: r.status, rung: r.rung ?? 0, index: r.trialIndex ?? i,
        rungScores: rungScoresOf(rungs, r.epochMetrics),
      }));
      const { promote, stop } = decide(config, trials);
      const promoted: (RequeuedRow & { fromRung: number })[] = [];
      for (const p of promote) {
        const data = { rung: p.toRung, pauseAtEpoch: pauseEpochOf(config, p.toRung), workerId: null };
        if (await moveWhere(tx, p.id, 'paused', 'queued', data, { rung: p.fromRung })) {
          promoted.push({ ...(await tx.experiment.findUniqueOrThrow({ where: { id: p.id }, select: REQUEUED })), fromRung: p.fromRung });
        }
      }
      const stopped: string[] = [];
      for (const st of stop) {
        if (await moveWhere(tx, st.id, 'paused', 'stopped', { finishedAt: new Date(), errorMessage: null }, { rung: st.rung })) stopped.push(st.id);
      }
      // Stopping the last paused trials may have ended the sweep.
      return { promoted, stopped, deliveries: stopped.length ? await recordSweepDecided(tx, sweepId) : [] };
    });
    this.webhooks(deliveries);
    return decided;
  }

  /**
   * Writes the trials a TPE sweep is owed now that trials ended (tpe-trials.ts), under the sweep's
   * row lock. Returns the new queued rows, whose jobs the caller adds after this commit; a job that
   * could not be added is re-created by the reconciler, as for any queued row without one.
   */
  async advanceTpe(sweepId: string, limits?: CostLimits): Promise<RequeuedRow[]> {
    const traceparent = activeTraceparent();
    return this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      if (!sweep || sweep.strategy !== 'tpe') return [];
      return decideTpeTrials(tx, sweepId, sweep.grid as SweepSpec, traceparent, limits);
    });
  }

  /**
   * Undo of a promotion whose job the queue refused: queued -> paused at the rung it came from,
   * only while nobody picked it up. The next decision pass promotes it again.
   */
  async unpromote(id: string, fromRung: number): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const sweep = await tx.experiment.findUnique({ where: { id }, select: { sweepId: true, sweep: { select: { asha: true } } } });
      const config = sweep?.sweep?.asha as unknown as AshaConfig | undefined;
      if (!config) return false;
      return moveWhere(tx, id, 'queued', 'paused', { rung: fromRung, pauseAtEpoch: pauseEpochOf(config, fromRung) }, { rung: fromRung + 1 });
    });
  }

  /**
   * `POST /sweeps/:id/rerun`: the sweep's failed and cancelled cells go back to queued (the one
   * use of RERUN), each to resume from its last checkpoint at pickup; `exclude`: cells the caller
   * found still held by a job. Returns what was re-queued
   * and how to undo each one (its former state) if the queue refuses.
   */
  async rerunSweep(sweepId: string, exclude: string[] = []): Promise<(RequeuedRow & { was: { status: RunStatus; errorMessage: string | null; finishedAt: Date | null } })[]> {
    return this.db.$transaction(async (tx) => {
      await lockSweep(tx, sweepId);
      const rows = await tx.experiment.findMany({ where: { sweepId, status: { in: ['failed', 'cancelled'] }, id: { notIn: exclude } }, select: { ...REQUEUED, status: true, errorMessage: true, finishedAt: true } });
      const out = [];
      for (const r of rows) {
        if (!RERUN[r.status].includes('queued')) continue;
        const n = await tx.experiment.updateMany({ where: { id: r.id, status: r.status }, data: { status: 'queued', workerId: null, finishedAt: null, errorMessage: null } });
        if (n.count) out.push({ id: r.id, spec: r.spec, queuePriority: r.queuePriority, createdById: r.createdById, priority: r.priority, was: { status: r.status, errorMessage: r.errorMessage, finishedAt: r.finishedAt } });
      }
      return out;
    });
  }

  /** Undo of a re-run whose job the queue refused: back to the state it had, if still untouched. */
  async undoRerun(id: string, was: { status: RunStatus; errorMessage: string | null; finishedAt: Date | null }): Promise<void> {
    await this.db.$transaction((tx) => moveWhere(tx, id, 'queued', was.status, { errorMessage: was.errorMessage, finishedAt: was.finishedAt }));
  }

  /** Closes a sweep (idempotent: the first close time stays); returns null when there is none. */
  async closeSweep(id: string): Promise<{ id: string; closedAt: Date } | null> {
    const { count } = await this.db.sweep.updateMany({ where: { id, closedAt: null }, data: { closedAt: new Date() } });
    const s = await this.db.sweep.findUnique({ where: { id }, select: { id: true, closedAt: true } });
    return s && (count || s.closedAt) ? { id: s.id, closedAt: s.closedAt! } : null;
  }
}

/** Score at each rung the trial finished: the best surface Dice (Dice without one) up to the rung's epoch. */
function rungScoresOf(rungs: number[], metrics: { epoch: number; surfaceDice: number | null; dice: number | null }[]): (number | null)[] {
  const last = metrics.reduce((m, e) => Math.max(m, e.epoch), 0);
  const out: (number | null)[] = [];
  for (const r of rungs) {
    if (last < r) break;
    const scores = metrics.filter((e) => e.epoch <= r).map((e) => e.surfaceDice ?? e.dice).filter((v): v is number => v !== null);
    out.push(scores.length ? Math.max(...scores) : null);
  }
  return out;
}
