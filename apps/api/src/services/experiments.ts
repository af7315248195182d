import { randomUUID } from 'node:crypto';
import { ExperimentSpec, specRuleIssues, trainingCostIssues, type CostLimits } from '@capillary/contracts';
import type { Prisma, PrismaClient, Experiment } from '@capillary/db';
import type { EventPublisher, JobQueues } from '@capillary/queue';
import { columnsOf, NotRunnableError, TransitionError, type ExperimentRegistry } from '@capillary/registry';
import { HttpError, cancelled, invalid, notFound } from './errors.ts';
import { enqueueOrUndo, type Admission } from './admission.ts';
import { scoreFields } from './views.ts';
import { lockActiveQuota, type QuotaLimits } from './quota.ts';
import { idempotencyConflict, requestHashOf } from './idempotency.ts';
import type { Owner } from '../auth/owner.ts';

/** Who asks for an experiment, under which idempotency key, and at which scheduling level. */
export interface CreateOptions {
  owner: Owner;
  idempotencyKey?: string;
  /** 1 runs first (see `Priority` in the contracts); unset: the default level. */
  priority?: number;
}

/**
 * Experiments as the API sees them: validates requests, then creates and cancels through the
 * registry (the one writer of experiment state) and queues after commit. A row whose job never
 * reached Redis is still picked up by the reconciler.
 */
export class ExperimentService {
  constructor(
    private readonly db: PrismaClient,
    private readonly registry: ExperimentRegistry,
    private readonly queues: JobQueues,
    private readonly events: EventPublisher,
    private readonly limits: CostLimits & QuotaLimits,
    private readonly admission: Admission,
  ) {}

  /** The experiment an idempotency key already created for this API key; 422 if the body differs. */
  private async replay(apiKeyId: string | null, idempotencyKey: string, requestHash: string) {
    const existing = await this.db.experiment.findFirst({ where: { apiKeyId, idempotencyKey } });
    if (existing?.requestHash && existing.requestHash !== requestHash) throw idempotencyConflict(idempotencyKey, existing.id);
    return existing;
  }

  async create(spec: ExperimentSpec, opts: CreateOptions): Promise<{ experiment: Experiment; replayed: boolean }> {
    const { owner } = opts;
    const apiKeyId = owner.apiKeyId;
    const { idempotencyKey } = opts;
    const priority = opts.priority ?? null;
    // A spec without a priority hashes as before, so replays of older requests still match.
    const requestHash = idempotencyKey ? requestHashOf(priority === null ? spec : { spec, priority }) : null;
    if (idempotencyKey) {
      const existing = await this.replay(apiKeyId, idempotencyKey, requestHash!);
      if (existing) return { experiment: existing, replayed: true };
    }
    const issues = [...specRuleIssues(spec), ...trainingCostIssues(spec, this.limits)];
    if (issues.length) throw invalid('experiment', issues);
    const datasetId = await this.admission.datasetId(spec.dataset, '/dataset', owner.projectId);
    await this.admission.checkValidationVolumes(datasetId, spec, '/validationVolumes');
    const scoring = this.admission.testScoringIssues(await this.admission.testVoxels(datasetId), spec, '');
    if (scoring.length) throw invalid('experiment', scoring);
    const id = randomUUID();
    let experiment: Experiment;
    try {
      experiment = await this.registry.create(
        { id, spec: spec as unknown as Prisma.InputJsonValue, datasetId, apiKeyId, projectId: owner.projectId, createdById: owner.userId, idempotencyKey, requestHash, priority, ...columnsOf(spec) },
        (tx) => lockActiveQuota(tx, owner.userId, 1, this.limits),
      );
    } catch (e) {
      // Two retries with one key racing: the loser returns the winner's experiment.
      if (idempotencyKey && (e as { code?: string }).code === 'P2002') {
        const existing = await this.replay(apiKeyId, idempotencyKey, requestHash!);
        if (existing) return { experiment: existing, replayed: true };
      }
      throw e;
    }
    const place = { priority: experiment.queuePriority ?? undefined };
    await enqueueOrUndo(() => this.queues.enqueue('training', { experimentId: id, spec }, id, place), () => this.registry.discard(id));
    return { experiment, replayed: false };
  }

  async get(id: string) {
    const e = await this.db.experiment.findUnique({
      where: { id },
      include: {
        epochMetrics: { orderBy: { epoch: 'asc' } },
        checkpoints: { orderBy: { epoch: 'asc' } },
        attemptLog: { orderBy: { number: 'asc' } },
        sweep: { select: { closedAt: true } },
      },
    });
    if (!e) throw notFound(`experiment ${id}`);
    return e;
  }

  async list(filter: { projectId: string; status?: Experiment['status']; sweepId?: string; limit: number; offset: number }) {
    const where = { projectId: filter.projectId, status: filter.status, sweepId: filter.sweepId };
    const [total, items] = await Promise.all([
      this.db.experiment.count({ where }),
      this.withSweeps(this.db.experiment.findMany({ where, orderBy: { createdAt: 'desc' }, take: filter.limit, skip: filter.offset }), filter),
    ]);
    return { total, items };
  }

  /**
   * Rows with their sweep's name and close. The project's sweeps are read beside the rows, not
   * after them: `include: { sweep }` was 25 ms slower for 1,000 rows with Prisma's client engine,
   * and a query after the rows a round trip longer for ten (bench/api-load.ts, the leaderboard).
   */
  private async withSweeps<R extends { sweepId: string | null }>(found: Promise<R[]>, sweepsOf: { projectId: string; sweepId?: string }) {
    const where = sweepsOf.sweepId ? { id: sweepsOf.sweepId, projectId: sweepsOf.projectId } : { projectId: sweepsOf.projectId };
    const [rows, sweeps] = await Promise.all([found, this.db.sweep.findMany({ where, select: { id: true, name: true, closedAt: true } })]);
    const byId = new Map(sweeps.map((s) => [s.id, { name: s.name, closedAt: s.closedAt }]));
    return rows.map((r) => ({ ...r, sweep: r.sweepId ? (byId.get(r.sweepId) ?? null) : null }));
  }

  /**
   * Cancels an experiment. The cancel is recorded in Postgres first (durable: a worker checks
   * it every few seconds and at every epoch commit, and refuses to start a cancelled run); then,
   * as the fast path, a waiting job is removed and the worker holding a running one is told over
   * pub/sub. Redis being down does not undo the cancel.
   */
  async cancel(id: string) {
    const updated = await cancelled(`experiment ${id}`, () => this.registry.cancel(id));
    try {
      const job = await this.queues.queue('training').getJob(id);
      if (job && !(await job.isActive())) await job.remove().catch(() => undefined);
      await this.events.requestCancel(id);
      await this.events.publish(id, { type: 'status', status: 'cancelled' });
    } catch {
      // Redis is unreachable: the worker sees the cancel in Postgres instead.
    }
    return updated;
  }

  /**
   * Closes a lone experiment: its private score is answered from now on. A sweep member is closed
   * with its sweep (409), so private scores cannot be revealed one run at a time.
   */
  async close(id: string) {
    try {
      await this.registry.close(id);
    } catch (e) {
      if (e instanceof NotRunnableError) throw notFound(`experiment ${id}`);
      if (e instanceof TransitionError) throw new HttpError(409, `experiment ${id} belongs to a sweep: close the sweep (POST /sweeps/:id/close)`);
      throw e;
    }
    return this.get(id);
  }

  /**
   * Ranked by score (public-test surface Dice once the run is scored, else the best epoch's
   * validation score; `scoreSource` says which); ties go to the experiment that finished first.
   * Unscored experiments follow, newest first.
   */
  async leaderboard(filter: { projectId: string; sweepId?: string; limit: number }) {
    const rows = await this.withSweeps(this.db.experiment.findMany({
      where: { projectId: filter.projectId, sweepId: filter.sweepId },
      orderBy: [{ score: { sort: 'desc', nulls: 'last' } }, { finishedAt: { sort: 'asc', nulls: 'last' } }, { createdAt: 'desc' }],
      take: filter.limit,
    }), filter);
    return rows.map((r, i) => ({
      rank: r.score === null ? null : i + 1,
      experimentId: r.id,
      name: r.name,
      sweepId: r.sweepId,
      sweepName: r.sweep?.name ?? null,
      model: r.model,
      encoder: r.encoder,
      inputMode: r.inputMode,
      epochs: r.epochs,
      lr: r.lr,
      augmentationP: r.augmentationP,
      batchSize: r.batchSize,
      seed: r.seed,
      score: r.score,
      // The private score stays hidden until its sweep (or the lone experiment) is closed, so nobody tunes to it.
      ...scoreFields(r),
      bestEpoch: r.bestEpoch,
      status: r.status,
      backend: r.backend,
      attempts: r.attempts,
      durationMs: r.startedAt && r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
      createdAt: r.createdAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
    }));
  }
}
