import { bestEpochOf, epochScore, type EpochMetrics, type ScoreSource } from '@capillary/contracts';
import type { Prisma, PrismaClient, Experiment } from '@capillary/db';
import { FencedError, NotRunnableError } from './errors.ts';
import { fenceVerdict as verdict } from './transitions.ts';
import { lockExperiment, type Tx } from './row-locks.ts';
import { recordRunEnded, type WebhookDispatch } from './webhooks.ts';

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

const MAX_MESSAGE = 4000;
export const firstLines = (m: string) => m.slice(0, MAX_MESSAGE);

/**
 * The worker's writes to a run it holds: opening an attempt at pickup, then epochs, checkpoints,
 * test scores and the attempt's end. Every write carries its fence and runs under the row lock, so
 * it is refused once a newer attempt exists or the run was cancelled.
 */
export class AttemptRegistry {
  /**
   * `webhooks`: queues the deliveries a transition wrote, after its commit (fire and forget: the
   * run never waits on Redis for them); without one, the reconciler queues them.
   */
  constructor(protected readonly db: PrismaClient, protected readonly webhooks: WebhookDispatch = () => undefined) {}

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
      const row = await tx.experiment.findUniqueOrThrow({ where: { id: fence.experimentId }, select: { rung: true, sweepId: true, pauseAtEpoch: true } });
      // ASHA trials pause at a rung; PBT members (no rung) at an interval's epoch.
      await closeAttempt(tx, fence, row.rung === null && row.pauseAtEpoch !== null ? `paused at epoch ${row.pauseAtEpoch}` : `paused at rung ${row.rung ?? 0}`);
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

  /** running -> succeeded, closing the attempt. */
  async succeed(fence: ExperimentFence): Promise<Experiment> {
    const { row, deliveries } = await this.fenced(fence, async (tx) => {
      await closeAttempt(tx, fence, 'succeeded');
      const row = await tx.experiment.update({ where: { id: fence.experimentId }, data: { status: 'succeeded', finishedAt: new Date() } });
      return { row, deliveries: await recordRunEnded(tx, fence.experimentId, 'succeeded') };
    });
    this.webhooks(deliveries);
    return row;
  }

  /**
   * The attempt ended with an error of the run itself. `final` (no retries left, or an error
   * retrying cannot fix): running -> failed; otherwise running -> queued for the retry.
   */
  async fail(fence: ExperimentFence, message: string, final: boolean): Promise<void> {
    const deliveries = await this.fenced(fence, async (tx) => {
      await closeAttempt(tx, fence, `error: ${message.split('\n')[0].slice(0, 500)}`);
      await tx.experiment.update({
        where: { id: fence.experimentId },
        data: final ? { status: 'failed', finishedAt: new Date(), errorMessage: firstLines(message) } : { status: 'queued', workerId: null, errorMessage: firstLines(message) },
      });
      return final ? recordRunEnded(tx, fence.experimentId, 'failed') : [];
    });
    this.webhooks(deliveries);
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

  /** Runs `write` under the row lock, only while `fence` is the current running attempt. */
  protected async fenced<T>(fence: ExperimentFence, write: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(async (tx) => {
      const row = await lockExperiment(tx, fence.experimentId);
      const v = verdict(row, fence.attempt);
      if (v !== 'ok') throw new FencedError('experiment', fence.experimentId, fence.attempt, v);
      return write(tx);
    });
  }
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
