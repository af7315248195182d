import { activeTraceparent } from '@capillary/telemetry';
import type { CostLimits, SweepSpec } from '@capillary/contracts';
import type { Prisma, PrismaClient } from '@capillary/db';
import { decide, pauseEpochOf, rungEpochs, type AshaConfig } from './asha.ts';
import { queuePriorities } from './fair-share.ts';
import { lockSweep, moveWhere, type NewExperiment, type RequeuedRow, type Tx } from './row-locks.ts';
import { RERUN, type RunStatus } from './transitions.ts';
import { decideTpeTrials } from './tpe-trials.ts';
import { releaseHeld, runnableStatus } from './sweep-cap.ts';
import { decidePbtStep, PbtRaceError, type PbtStep } from './pbt-population.ts';
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
  /** at most this many trials queued or running at once; null: no cap */
  maxConcurrent?: number | null;
}

/** A new row's place in the queue and whether it was queued or waits `held` under the sweep's cap. */
export interface Placed {
  id: string;
  queuePriority: number;
  status: 'queued' | 'held';
}

/** New rows written, and those of them queued now, whose jobs the caller adds after the commit. */
export interface PlacedRows {
  placed: Placed[];
  queued: RequeuedRow[];
}

/** A new row as its job needs it. */
const requeuedOf = (r: NewExperiment & { queuePriority: number }): RequeuedRow =>
  ({ id: r.id!, spec: r.spec, queuePriority: r.queuePriority, createdById: r.createdById ?? null, priority: r.priority ?? null });

const REQUEUED = { id: true, spec: true, queuePriority: true, createdById: true, priority: true } as const;

/**
 * The writer of sweeps and of what is decided for a sweep's trials together: creation and
 * extension, ASHA promotions, re-runs and the close that reveals private scores. Decisions about one
 * sweep are made under its row lock, so two deciders never interleave.
 */
export class SweepRegistry {
  /** `webhooks`: queues the `sweep.finished` deliveries a decision wrote, after its commit. */
  constructor(private readonly db: PrismaClient, private readonly webhooks: WebhookDispatch = () => undefined) {}

  /**
   * A sweep and its experiments, in one transaction (all of one API key and level); returns each
   * row's queue priority and status: under a cap, the first `maxConcurrent` rows are queued and
   * the rest wait held.
   */
  async createSweep(sweep: NewSweep, rows: NewExperiment[], admit?: (tx: Tx) => Promise<void>): Promise<PlacedRows> {
    const traceparent = activeTraceparent();
    const cap = sweep.maxConcurrent ?? null;
    return this.db.$transaction(async (tx) => {
      await admit?.(tx);
      const places = await queuePriorities(tx, rows[0]?.createdById ?? null, rows[0]?.priority, rows.length);
      const placed = rows.map((r, i) => ({ ...r, queuePriority: places[i], traceparent, status: cap && i >= cap ? ('held' as const) : ('queued' as const) }));
      await tx.sweep.create({ data: sweep });
      await tx.experiment.createMany({ data: placed });
      return { placed: placed.map((r) => ({ id: r.id!, queuePriority: r.queuePriority, status: r.status })), queued: placed.filter((r) => r.status === 'queued').map(requeuedOf) };
    });
  }

  /**
   * More trials for an existing sweep (`POST /sweeps/:id/extend`), queued like the first ones; in
   * a capped sweep they wait held, and the places free now are given out in trial order (to held
   * trials before them first).
   */
  async addToSweep(sweepId: string, rows: NewExperiment[], admit?: (tx: Tx) => Promise<void>): Promise<PlacedRows> {
    const traceparent = activeTraceparent();
    return this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      await admit?.(tx);
      const places = await queuePriorities(tx, rows[0]?.createdById ?? null, rows[0]?.priority, rows.length);
      const status = runnableStatus(sweep?.maxConcurrent);
      const placed = rows.map((r, i) => ({ ...r, sweepId, queuePriority: places[i], traceparent, status }));
      await tx.experiment.createMany({ data: placed });
      const queued = status === 'held' ? await releaseHeld(tx, sweepId, sweep?.maxConcurrent) : placed.map(requeuedOf);
      const queuedNow = new Set(queued.map((r) => r.id));
      return { placed: placed.map((r) => ({ id: r.id!, queuePriority: r.queuePriority, status: queuedNow.has(r.id!) ? ('queued' as const) : status })), queued };
    });
  }

  /**
   * Gives the places free under a capped sweep's `maxConcurrent` to its held trials, in order
   * (sweep-cap.ts), under the sweep's row lock. Returns the rows queued now, whose jobs the caller
   * adds after the commit; a job that could not be added is re-created by the reconciler.
   */
  async release(sweepId: string): Promise<RequeuedRow[]> {
    return this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      return sweep ? releaseHeld(tx, sweepId, sweep.maxConcurrent) : [];
    });
  }

  async discardSweep(sweepId: string): Promise<void> {
    await this.db.$transaction([
      this.db.experiment.deleteMany({ where: { sweepId, status: { in: ['queued', 'held'] }, attempts: 0 } }),
      this.db.sweep.delete({ where: { id: sweepId } }),
    ]);
  }

  /**
   * Applies every ASHA decision the sweep's trials call for (see asha.ts), under the sweep's row
   * lock so two deciders never interleave: promoted trials go paused -> queued at their next rung,
   * the others paused -> stopped with their rung. Returns the promoted rows, whose jobs the caller
   * queues after this commit (and undoes with `unpromote` if the queue refuses). In a capped sweep
   * a promoted trial goes paused -> held instead (`held`), to be queued by `release` in turn.
   */
  async advanceAsha(sweepId: string): Promise<{ promoted: (RequeuedRow & { fromRung: number })[]; stopped: string[]; held: string[] }> {
    const { deliveries, ...decided } = await this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      if (!sweep || sweep.strategy !== 'asha' || !sweep.asha) return { promoted: [], stopped: [], held: [], deliveries: [] };
      const to = runnableStatus(sweep.maxConcurrent);
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
      const held: string[] = [];
      for (const p of promote) {
        const data = { rung: p.toRung, pauseAtEpoch: pauseEpochOf(config, p.toRung), workerId: null };
        if (!(await moveWhere(tx, p.id, 'paused', to, data, { rung: p.fromRung }))) continue;
        if (to === 'held') held.push(p.id);
        else promoted.push({ ...(await tx.experiment.findUniqueOrThrow({ where: { id: p.id }, select: REQUEUED })), fromRung: p.fromRung });
      }
      const stopped: string[] = [];
      for (const st of stop) {
        if (await moveWhere(tx, st.id, 'paused', 'stopped', { finishedAt: new Date(), errorMessage: null }, { rung: st.rung })) stopped.push(st.id);
      }
      // Stopping the last paused trials may have ended the sweep.
      return { promoted, stopped, held, deliveries: stopped.length ? await recordSweepDecided(tx, sweepId) : [] };
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
      return decideTpeTrials(tx, sweepId, sweep.grid as SweepSpec, traceparent, limits, sweep.maxConcurrent);
    });
  }

  /**
   * A PBT sweep's exploit/explore step once its whole population paused at an interval
   * (pbt-population.ts), under the sweep's row lock. Returns the re-queued members, whose jobs the
   * caller adds after this commit (a lost one is re-created by the reconciler, as for any queued
   * row), and the replaced checkpoints' objects to delete. A member that moved meanwhile (a
   * cancel) rolls the step back; the next pass decides again without it.
   */
  async advancePbt(sweepId: string): Promise<PbtStep> {
    try {
      return await this.db.$transaction(async (tx) => {
        const sweep = await lockSweep(tx, sweepId);
        if (!sweep || sweep.strategy !== 'pbt') return { requeued: [], droppedKeys: [] };
        return decidePbtStep(tx, sweepId, sweep.grid as SweepSpec, sweep.maxConcurrent);
      }, { timeout: 60_000 });
    } catch (e) {
      if (e instanceof PbtRaceError) return { requeued: [], droppedKeys: [] };
      throw e;
    }
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
   * use of RERUN), each to resume from its last checkpoint at pickup; in a capped sweep they go to
   * held and the free places are given out in order. `exclude`: cells the caller found still held
   * by a job. Returns what was re-queued (status: queued now, or held), and how to undo each
   * queued one (its former state) if the queue refuses.
   */
  async rerunSweep(sweepId: string, exclude: string[] = []): Promise<(RequeuedRow & { status: 'queued' | 'held'; was: { status: RunStatus; errorMessage: string | null; finishedAt: Date | null } })[]> {
    return this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      const to = runnableStatus(sweep?.maxConcurrent);
      const rows = await tx.experiment.findMany({ where: { sweepId, status: { in: ['failed', 'cancelled'] }, id: { notIn: exclude } }, select: { ...REQUEUED, status: true, errorMessage: true, finishedAt: true } });
      const out = [];
      for (const r of rows) {
        if (!RERUN[r.status].includes(to)) continue;
        const n = await tx.experiment.updateMany({ where: { id: r.id, status: r.status }, data: { status: to, workerId: null, finishedAt: null, errorMessage: null } });
        if (n.count) out.push({ id: r.id, spec: r.spec, queuePriority: r.queuePriority, createdById: r.createdById, priority: r.priority, status: to, was: { status: r.status, errorMessage: r.errorMessage, finishedAt: r.finishedAt } });
      }
      if (to === 'held') {
        const released = new Set((await releaseHeld(tx, sweepId, sweep?.maxConcurrent)).map((r) => r.id));
        for (const r of out) if (released.has(r.id)) r.status = 'queued';
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
