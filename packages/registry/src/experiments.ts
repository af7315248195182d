import { bestEpochOf, epochScore, type EpochMetrics, type ScoreSource } from '@capillary/contracts';
import type { Prisma, PrismaClient, Experiment } from '@capillary/db';
import { FencedError, NotRunnableError, TransitionError } from './errors.ts';
import { fenceVerdict as verdict, fromStates, RERUN, TRANSITIONS, type RunStatus } from './transitions.ts';
import { queuePriorities } from './fair-share.ts';
import { decide, pauseEpochOf, rungEpochs, type AshaConfig } from './asha.ts';

type Tx = Prisma.TransactionClient;

/** The attempt a worker holds: every write it makes names it, and is refused once it is stale. */
export interface ExperimentFence {
  experimentId: string;
  attempt: number;
  attemptId: string;
}

/** One finished epoch as the worker commits it: its metrics and the checkpoint already in S3. */
export interface EpochCommit extends EpochMetrics {
  checkpoint: { s3Key: string; bytes: number; sha256: string };
}

/** A row that was (re-)queued and needs its job: what the caller enqueues after the commit. */
export interface RequeuedRow {
  id: string;
  spec: unknown;
  queuePriority: number | null;
  createdById: string | null;
  priority: number | null;
}

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

/** The end-of-run scores of the test volumes, predicted by the checkpoint of `epoch`. */
export interface TestScores {
  epoch: number;
  /** Mean public-test surface Dice; null when the dataset has no labelled public-test volume. */
  publicScore: number | null;
  /** Mean private-test surface Dice; null when the dataset has no labelled private-test volume. */
  privateScore: number | null;
  /**
   * The checkpoint's score on the whole validation volumes (surface Dice, else Dice), for a run whose
   * best epoch was validated on crops; it replaces the crops' score on the leaderboard.
   */
  wholeValidationScore?: number | null;
}

/** The typed columns of a new experiment (the API fills them from the validated spec). */
export type NewExperiment = Omit<Prisma.ExperimentCreateManyInput, 'status' | 'attempts' | 'workerId' | 'startedAt' | 'finishedAt' | 'queuePriority'>;

const MAX_MESSAGE = 4000;
const firstLines = (m: string) => m.slice(0, MAX_MESSAGE);

/**
 * The only writer of experiment, attempt, epoch and checkpoint rows. Every status change is a
 * guarded transition from the states `TRANSITIONS` allows; every worker write carries its fence
 * and runs under a row lock, so it is refused once a newer attempt exists or the run was
 * cancelled.
 */
export class ExperimentRegistry {
  constructor(private readonly db: PrismaClient) {}

  // ---- creation (API) ----------------------------------------------------------------------

  /**
   * `admit` runs first in the same transaction: a quota check that must hold at commit. The row's
   * `queuePriority` (its place in the queue, see fair-share.ts) is fixed here, for the job to use.
   */
  async create(row: NewExperiment, admit?: (tx: Tx) => Promise<void>): Promise<Experiment> {
    return this.db.$transaction(async (tx) => {
      await admit?.(tx);
      const [queuePriority] = await queuePriorities(tx, row.createdById ?? null, row.priority, 1);
      return tx.experiment.create({ data: { ...row, queuePriority } as Prisma.ExperimentUncheckedCreateInput });
    });
  }

  /** A sweep and its experiments, in one transaction (all of one API key and level); returns each row's queue priority. */
  async createSweep(sweep: NewSweep, rows: NewExperiment[], admit?: (tx: Tx) => Promise<void>) {
    return this.db.$transaction(async (tx) => {
      await admit?.(tx);
      const places = await queuePriorities(tx, rows[0]?.createdById ?? null, rows[0]?.priority, rows.length);
      const placed = rows.map((r, i) => ({ ...r, queuePriority: places[i] }));
      await tx.sweep.create({ data: sweep });
      await tx.experiment.createMany({ data: placed });
      return placed.map((r) => ({ id: r.id!, queuePriority: r.queuePriority }));
    });
  }

  /**
   * The BullMQ priority to re-create a lost job with: the one fixed at creation, or, for a row
   * queued before priorities existed, a place computed now the same way.
   */
  async queuePriorityOf(row: { createdById: string | null; priority: number | null; queuePriority: number | null }): Promise<number> {
    if (row.queuePriority !== null) return row.queuePriority;
    const [p] = await this.db.$transaction((tx) => queuePriorities(tx, row.createdById, row.priority, 1));
    return p;
  }

  /** Undo of a creation whose job the queue refused: the rows never became visible work. */
  async discard(id: string): Promise<void> {
    await this.db.experiment.deleteMany({ where: { id, status: 'queued', attempts: 0 } });
  }

  /** More trials for an existing sweep (`POST /sweeps/:id/extend`), queued like the first ones. */
  async addToSweep(sweepId: string, rows: NewExperiment[], admit?: (tx: Tx) => Promise<void>) {
    return this.db.$transaction(async (tx) => {
      await lockSweep(tx, sweepId);
      await admit?.(tx);
      const places = await queuePriorities(tx, rows[0]?.createdById ?? null, rows[0]?.priority, rows.length);
      const placed = rows.map((r, i) => ({ ...r, sweepId, queuePriority: places[i] }));
      await tx.experiment.createMany({ data: placed });
      return placed.map((r) => ({ id: r.id!, queuePriority: r.queuePriority }));
    });
  }

  /** Undo of an extension whose jobs the queue refused. */
  async discardMany(ids: string[]): Promise<void> {
    await this.db.experiment.deleteMany({ where: { id: { in: ids }, status: 'queued', attempts: 0 } });
  }

  async discardSweep(sweepId: string): Promise<void> {
    await this.db.$transaction([
      this.db.experiment.deleteMany({ where: { sweepId, status: 'queued', attempts: 0 } }),
      this.db.sweep.delete({ where: { id: sweepId } }),
    ]);
  }

  // ---- transitions that need no attempt (API, reconciler) ----------------------------------

  /**
   * Records a cancel durably: queued or running -> cancelled. Workers see it at their next
   * status check or epoch commit even when the pub/sub message never reaches them.
   */
  async cancel(id: string): Promise<Experiment> {
    return this.move(id, 'cancelled', { finishedAt: new Date(), errorMessage: 'cancelled by request' });
  }

  /** A run whose job failed for good outside any attempt (reconciler, bad payload). */
  async failForGood(id: string, message: string): Promise<Experiment | null> {
    return this.move(id, 'failed', { finishedAt: new Date(), errorMessage: firstLines(message) }).catch(ignoreRefused);
  }

  /**
   * Hands a running experiment whose worker is gone back to the queue, closing its open
   * attempts as lost. Only when the row is still at `attempt` (nobody took it over meanwhile).
   */
  async requeueLost(id: string, attempt: number): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, id);
      if (!row || row.status !== 'running' || row.attempts !== attempt) return false;
      await tx.experiment.update({ where: { id }, data: { status: 'queued', workerId: null } });
      await tx.attempt.updateMany({ where: { experimentId: id, endedAt: null }, data: { endedAt: new Date(), outcome: 'lost: worker gone' } });
      return true;
    });
  }

  // ---- sweeps: ASHA promotions, re-runs ------------------------------------------------------

  /**
   * Applies every ASHA decision the sweep's trials call for (see asha.ts), under the sweep's row
   * lock so two deciders never interleave: promoted trials go paused -> queued at their next rung,
   * the others paused -> stopped with their rung. Returns the promoted rows, whose jobs the caller
   * queues after this commit (and undoes with `unpromote` if the queue refuses).
   */
  async advanceAsha(sweepId: string): Promise<{ promoted: (RequeuedRow & { fromRung: number })[]; stopped: string[] }> {
    return this.db.$transaction(async (tx) => {
      const sweep = await lockSweep(tx, sweepId);
      if (!sweep || sweep.strategy !== 'asha' || !sweep.asha) return { promoted: [], stopped: [] };
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
      return { promoted, stopped };
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

  // ---- attempts (worker) -------------------------------------------------------------------

  /**
   * Opens a new attempt at pickup: its number is the fence. Refuses a run that was cancelled,
   * ended or removed. Any attempt still open belonged to a worker that lost the job; it is
   * closed as superseded, and its writes are refused from now on.
   */
  async openAttempt(experimentId: string, workerId: string): Promise<{ fence: ExperimentFence; experiment: Experiment; lastEpoch: number }> {
    return this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, experimentId);
      if (!row) throw new NotRunnableError('experiment', experimentId, 'missing');
      if (row.status === 'cancelled') throw new NotRunnableError('experiment', experimentId, 'cancelled');
      if (row.status !== 'queued' && row.status !== 'running') throw new NotRunnableError('experiment', experimentId, 'ended');
      const number = row.attempts + 1;
      await tx.attempt.updateMany({ where: { experimentId, endedAt: null }, data: { endedAt: new Date(), outcome: 'superseded' } });
      const last = await tx.checkpoint.findFirst({ where: { experimentId }, orderBy: { epoch: 'desc' }, select: { epoch: true } });
      const lastEpoch = last?.epoch ?? 0;
      const attempt = await tx.attempt.create({ data: { experimentId, number, workerId, resumedFromEpoch: lastEpoch } });
      const experiment = await tx.experiment.update({
        where: { id: experimentId },
        data: { status: 'running', attempts: number, workerId, startedAt: row.startedAt ?? new Date(), errorMessage: null },
      });
      return { fence: { experimentId, attempt: number, attemptId: attempt.id }, experiment, lastEpoch };
    });
  }

  /** Whether the fence still holds, for the worker's periodic check (the durable cancel path). */
  async check(fence: ExperimentFence): Promise<'ok' | FencedError['reason']> {
    const row = await this.db.experiment.findUnique({ where: { id: fence.experimentId }, select: { status: true, attempts: true } });
    return verdict(row, fence.attempt);
  }

  async recordBackend(fence: ExperimentFence, backend: string): Promise<void> {
    await this.fenced(fence, async (tx) => {
      await tx.experiment.update({ where: { id: fence.experimentId }, data: { backend } });
      await tx.attempt.update({ where: { id: fence.attemptId }, data: { backend } });
    });
  }

  /**
   * The resumable state after an unreadable newest checkpoint: epochs after `epoch` are dropped
   * so the run retrains them and still ends with epochs exactly 1..N. Returns the object keys of
   * the dropped checkpoint rows, for the caller to delete after this commit.
   */
  async rewindTo(fence: ExperimentFence, epoch: number): Promise<string[]> {
    return this.fenced(fence, async (tx) => {
      const dropped = await tx.checkpoint.findMany({ where: { experimentId: fence.experimentId, epoch: { gt: epoch } }, select: { s3Key: true } });
      await tx.epochMetric.deleteMany({ where: { experimentId: fence.experimentId, epoch: { gt: epoch } } });
      await tx.checkpoint.deleteMany({ where: { experimentId: fence.experimentId, epoch: { gt: epoch } } });
      await tx.attempt.update({ where: { id: fence.attemptId }, data: { resumedFromEpoch: epoch } });
      await tx.experiment.update({ where: { id: fence.experimentId }, data: { trainedEpochs: null, testScoredEpoch: null } });
      return dropped.map((c) => c.s3Key);
    });
  }

  /**
   * Commits one epoch: its metrics, its checkpoint row (the object is in S3 already) and the
   * leaderboard score, in one transaction, under the fence. Returns the key of the object the
   * epoch's row pointed to before, when a newer attempt redid the epoch: the caller deletes it.
   * With `keepLast`, checkpoint retention runs in the same transaction (see `pruneCheckpoints`)
   * and the keys of the rows it dropped come back as `prunedKeys`.
   */
  async commitEpoch(fence: ExperimentFence, e: EpochCommit, opts: { keepLast?: number; validatedOnTraining?: boolean } = {}): Promise<{ replacedKeys: string[]; prunedKeys?: string[] }> {
    const experimentId = fence.experimentId;
    return this.fenced(fence, async (tx) => {
      const metric = {
        attemptNumber: fence.attempt, trainLoss: e.trainLoss, valLoss: e.valLoss, dice: e.dice, surfaceDice: e.surfaceDice,
        learningRate: e.learningRate, durationMs: Math.round(e.durationMs),
        validationScope: e.validationScope ?? null, validationCrops: e.validationCrops ?? null,
        validationMs: e.validationMs === undefined ? null : Math.round(e.validationMs),
      };
      await tx.epochMetric.upsert({ where: { experimentId_epoch: { experimentId, epoch: e.epoch } }, create: { experimentId, epoch: e.epoch, ...metric }, update: { ...metric, commits: { increment: 1 } } });
      const ckpt = { attemptNumber: fence.attempt, ...e.checkpoint };
      // An epoch redone by a newer attempt: the older attempt's object loses its row here.
      const previous = await tx.checkpoint.findUnique({ where: { experimentId_epoch: { experimentId, epoch: e.epoch } }, select: { s3Key: true } });
      await tx.checkpoint.upsert({ where: { experimentId_epoch: { experimentId, epoch: e.epoch } }, create: { experimentId, epoch: e.epoch, ...ckpt }, update: ckpt });
      // The best epoch by the one rule (contracts best-epoch.ts), the engine's early stopping too.
      const best = bestEpochOf(await tx.epochMetric.findMany({ where: { experimentId }, select: { epoch: true, surfaceDice: true, dice: true, validationScope: true } }));
      const validatedOnTraining = opts.validatedOnTraining ?? false;
      if (best) {
        await tx.checkpoint.updateMany({ where: { experimentId, isBest: true, epoch: { not: best.epoch } }, data: { isBest: false } });
        await tx.checkpoint.updateMany({ where: { experimentId, epoch: best.epoch }, data: { isBest: true } });
        const validationScore = epochScore(best);
        // Until the test volumes are scored at the end, the leaderboard shows the validation score;
        // test scores (and the whole-volume validation score) of an older best epoch no longer hold.
        const scoreSource: ScoreSource = validatedOnTraining ? 'training' : 'validation';
        const validationCrops = best.validationScope === 'crops';
        await tx.experiment.update({
          where: { id: experimentId },
          data: { score: validationScore, validationScore, scoreSource, validatedOnTraining, validationCrops, wholeValidationScore: null, bestEpoch: best.epoch, privateScore: null, testScoredEpoch: null, trainedEpochs: null },
        });
      }
      const result: { replacedKeys: string[]; prunedKeys?: string[] } = { replacedKeys: previous && previous.s3Key !== e.checkpoint.s3Key ? [previous.s3Key] : [] };
      if (opts.keepLast !== undefined) result.prunedKeys = await pruneRows(tx, experimentId, opts.keepLast);
      return result;
    });
  }

  /**
   * Checkpoint retention: deletes the rows of every checkpoint but the best one and the newest
   * `keepLast`, under the fence, and returns their object keys. The caller deletes the objects
   * only after this commit, so a crash in between leaves an orphan object, never a row without
   * its object. Resume (the newest row) and prediction (the best row) keep what they read.
   */
  async pruneCheckpoints(fence: ExperimentFence, keepLast: number): Promise<string[]> {
    return this.fenced(fence, (tx) => pruneRows(tx, fence.experimentId, keepLast));
  }

  /**
   * ASHA: the trial committed its rung's epoch. running -> paused, closing the attempt; its job
   * ends and its checkpoints stay (the newest is never pruned), so a promotion resumes it exactly.
   */
  async pause(fence: ExperimentFence): Promise<{ sweepId: string | null; rung: number | null }> {
    return this.fenced(fence, async (tx) => {
      const row = await tx.experiment.findUniqueOrThrow({ where: { id: fence.experimentId }, select: { rung: true, sweepId: true } });
      await closeAttempt(tx, fence, `paused at rung ${row.rung ?? 0}`);
      await tx.experiment.update({ where: { id: fence.experimentId }, data: { status: 'paused', workerId: null } });
      return { sweepId: row.sweepId, rung: row.rung };
    });
  }

  /**
   * Training is over after `epochs` (early stopping included): a later attempt goes straight to
   * the test scoring instead of training on.
   */
  async endTraining(fence: ExperimentFence, epochs: number): Promise<void> {
    await this.fenced(fence, (tx) => tx.experiment.update({ where: { id: fence.experimentId }, data: { trainedEpochs: epochs } }));
  }

  /**
   * Records the test scores of the best checkpoint, under the fence. `score` becomes the public
   * score when there is one (else the whole-volume validation score of a run validated on crops,
   * else the validation score); `privateScore` is stored but
   * answered by the API only once the sweep or lone experiment is closed. Refused when `epoch`
   * is no longer the best epoch. Writing the same scores again (a hand-over rescoring) is harmless.
   */
  async recordTestScores(fence: ExperimentFence, t: TestScores): Promise<Experiment> {
    return this.fenced(fence, async (tx) => {
      const row = await tx.experiment.findUniqueOrThrow({ where: { id: fence.experimentId }, select: { bestEpoch: true, validationScore: true, validatedOnTraining: true } });
      if (row.bestEpoch !== t.epoch) throw new Error(`test scores of epoch ${t.epoch}, but the best epoch is ${row.bestEpoch}`);
      const fromValidation: ScoreSource = row.validatedOnTraining ? 'training' : 'validation';
      const wholeValidationScore = t.wholeValidationScore ?? null;
      return tx.experiment.update({
        where: { id: fence.experimentId },
        data: {
          ...(t.wholeValidationScore !== undefined ? { wholeValidationScore } : {}),
          score: t.publicScore ?? wholeValidationScore ?? row.validationScore,
          scoreSource: t.publicScore !== null ? 'public_test' : fromValidation,
          privateScore: t.privateScore,
          testScoredEpoch: t.epoch,
        },
      });
    });
  }

  /**
   * Closes a lone experiment: its private score is answered from now on. Members of a sweep are
   * closed with their sweep (one at a time would let the rest be tuned to the revealed ones).
   */
  async close(id: string): Promise<Experiment> {
    return this.db.$transaction(async (tx) => {
      if (!(await lockExperiment(tx, id))) throw new NotRunnableError('experiment', id, 'missing');
      const row = await tx.experiment.findUniqueOrThrow({ where: { id } });
      if (row.sweepId) throw new TransitionError('experiment', id, 'in a sweep', 'closed');
      return row.closedAt ? row : tx.experiment.update({ where: { id }, data: { closedAt: new Date() } });
    });
  }

  /** Closes a sweep (idempotent: the first close time stays); returns null when there is none. */
  async closeSweep(id: string): Promise<{ id: string; closedAt: Date } | null> {
    const { count } = await this.db.sweep.updateMany({ where: { id, closedAt: null }, data: { closedAt: new Date() } });
    const s = await this.db.sweep.findUnique({ where: { id }, select: { id: true, closedAt: true } });
    return s && (count || s.closedAt) ? { id: s.id, closedAt: s.closedAt! } : null;
  }

  /** running -> succeeded, closing the attempt. */
  async succeed(fence: ExperimentFence): Promise<Experiment> {
    return this.fenced(fence, async (tx) => {
      await closeAttempt(tx, fence, 'succeeded');
      return tx.experiment.update({ where: { id: fence.experimentId }, data: { status: 'succeeded', finishedAt: new Date() } });
    });
  }

  /**
   * The attempt ended with an error of the run itself. `final` (no retries left, or an error
   * retrying cannot fix): running -> failed; otherwise running -> queued for the retry.
   */
  async fail(fence: ExperimentFence, message: string, final: boolean): Promise<void> {
    await this.fenced(fence, async (tx) => {
      await closeAttempt(tx, fence, `error: ${message.split('\n')[0].slice(0, 500)}`);
      await tx.experiment.update({
        where: { id: fence.experimentId },
        data: final ? { status: 'failed', finishedAt: new Date(), errorMessage: firstLines(message) } : { status: 'queued', workerId: null, errorMessage: firstLines(message) },
      });
    });
  }

  /**
   * running -> queued without spending anything: the worker is shutting down or the
   * infrastructure is unreachable. The next attempt resumes from the last committed epoch.
   */
  async handOver(fence: ExperimentFence, why: string): Promise<void> {
    await this.fenced(fence, async (tx) => {
      await closeAttempt(tx, fence, `handed over: ${why}`);
      await tx.experiment.update({ where: { id: fence.experimentId }, data: { status: 'queued', workerId: null } });
    });
  }

  /** Closes an attempt that stopped because its run was cancelled (the row says so already). */
  async closeCancelled(fence: ExperimentFence): Promise<void> {
    await this.db.attempt.updateMany({ where: { id: fence.attemptId, endedAt: null }, data: { endedAt: new Date(), outcome: 'cancelled' } });
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Runs `write` under the row lock, only while `fence` is the current running attempt. */
  private async fenced<T>(fence: ExperimentFence, write: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, fence.experimentId);
      const v = verdict(row, fence.attempt);
      if (v !== 'ok') throw new FencedError('experiment', fence.experimentId, fence.attempt, v);
      return write(tx);
    });
  }

  /** A guarded status change with no attempt involved. */
  private async move(id: string, to: RunStatus, data: Prisma.ExperimentUpdateManyMutationInput): Promise<Experiment> {
    return this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, id);
      if (!row) throw new NotRunnableError('experiment', id, 'missing');
      if (!fromStates(to).includes(row.status)) throw new TransitionError('experiment', id, row.status, to);
      if (isFinal(to)) await tx.attempt.updateMany({ where: { experimentId: id, endedAt: null }, data: { endedAt: new Date(), outcome: to } });
      return tx.experiment.update({ where: { id }, data: { ...data, status: to } });
    });
  }
}

const isFinal = (s: RunStatus) => s === 'succeeded' || s === 'failed' || s === 'cancelled';

/** Locks a sweep row (decisions about its trials are made one at a time) and returns it. */
async function lockSweep(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ id: string; strategy: string; asha: unknown }[]>`
    SELECT id, strategy, asha FROM "Sweep" WHERE id = ${id}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}

/**
 * A guarded move by one conditional update: only from `from` (and `where`), and only if the table
 * allows it (RERUN is not consulted here: re-runs use their own guard).
 */
async function moveWhere(tx: Tx, id: string, from: RunStatus, to: RunStatus, data: Prisma.ExperimentUpdateManyMutationInput, where: Prisma.ExperimentWhereInput = {}): Promise<boolean> {
  if (!TRANSITIONS[from].includes(to)) throw new TransitionError('experiment', id, from, to);
  const n = await tx.experiment.updateMany({ where: { ...where, id, status: from }, data: { ...data, status: to } });
  return n.count === 1;
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

function ignoreRefused(e: unknown): null {
  if (e instanceof TransitionError || e instanceof NotRunnableError) return null;
  throw e;
}

/** Deletes the checkpoint rows retention drops (all but the best and the newest `keepLast`); returns their keys. */
async function pruneRows(tx: Tx, experimentId: string, keepLast: number): Promise<string[]> {
  const rows = await tx.checkpoint.findMany({ where: { experimentId }, orderBy: { epoch: 'desc' }, select: { id: true, s3Key: true, isBest: true } });
  const doomed = rows.slice(keepLast).filter((r) => !r.isBest);
  if (!doomed.length) return [];
  await tx.checkpoint.deleteMany({ where: { id: { in: doomed.map((r) => r.id) } } });
  return doomed.map((r) => r.s3Key);
}

async function closeAttempt(tx: Tx, fence: ExperimentFence, outcome: string) {
  await tx.attempt.updateMany({ where: { id: fence.attemptId, endedAt: null }, data: { endedAt: new Date(), outcome } });
}

/** Locks the experiment row for the rest of the transaction and returns what the guards need. */
async function lockExperiment(tx: Tx, id: string) {
  const rows = await tx.$queryRaw<{ status: RunStatus; attempts: number; startedAt: Date | null }[]>`
    SELECT status, attempts, "startedAt" FROM "Experiment" WHERE id = ${id}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}
