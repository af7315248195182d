import { randomUUID } from 'node:crypto';
import {
  ExperimentSpec,
  inputModeOf,
  predictionCostIssues,
  specRuleIssues,
  trainingCostIssues,
  type CostLimits,
  type SweepSpec,
} from '@capillary/contracts';
import type { Prisma, PrismaClient, Experiment } from '@capillary/db';
import type { EventPublisher, JobQueues } from '@capillary/queue';
import { NotRunnableError, TransitionError, enqueueFresh, pauseEpochOf, removeFinishedJob, withinEnqueueTimeout, type ExperimentRegistry, type NewExperiment } from '@capillary/registry';
import { HttpError, badField, cancelled, invalid, notFound } from './errors.ts';
import { expandSweep, type SweepTrial } from './sweep-strategies.ts';
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

/** Typed columns copied out of the spec, so the leaderboard can sort without reading JSON. */
function columnsOf(spec: ExperimentSpec) {
  return {
    name: spec.name ?? null,
    model: spec.model,
    encoder: spec.encoder,
    inputMode: inputModeOf(spec),
    epochs: spec.epochs,
    lr: spec.lr,
    augmentationP: spec.augmentationP,
    batchSize: spec.batchSize,
    seed: spec.seed,
  };
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
  ) {}

  /** The experiment an idempotency key already created for this API key; 422 if the body differs. */
  private async replay(apiKeyId: string | null, idempotencyKey: string, requestHash: string) {
    const existing = await this.db.experiment.findFirst({ where: { apiKeyId, idempotencyKey } });
    if (existing?.requestHash && existing.requestHash !== requestHash) throw idempotencyConflict(idempotencyKey, existing.id);
    return existing;
  }

  /** A dataset of the owner's project; another project's is as unknown as one never made. */
  private async datasetId(name: string, field: string, projectId: string): Promise<string> {
    const ds = await this.db.dataset.findUnique({ where: { name } });
    if (!ds || ds.projectId !== projectId) throw badField(field, `no dataset named "${name}" in this project`);
    return ds.id;
  }

  private async checkValidationVolumes(datasetId: string, spec: ExperimentSpec, field: string) {
    if (!spec.validationVolumes) return;
    const found = await this.db.volume.findMany({ where: { datasetId, name: { in: spec.validationVolumes } }, select: { name: true, role: true } });
    const missing = spec.validationVolumes.filter((n) => !found.some((f) => f.name === n));
    if (missing.length) {
      throw badField(field, `no volume named ${missing.map((m) => `"${m}"`).join(', ')} in dataset "${spec.dataset}"`);
    }
    // Test volumes are scored once, at the end; validating on them would tune to them.
    const tests = found.filter((f) => f.role === 'public_test' || f.role === 'private_test');
    if (tests.length) throw badField(field, `${tests.map((t) => `"${t.name}"`).join(', ')} ${tests.length > 1 ? 'are test volumes' : 'is a test volume'} (role ${tests[0].role}); only train and validation volumes may validate`);
  }

  /** Voxels of a dataset's test volumes: what the end-of-run scoring predicts. */
  private async testVoxels(datasetId: string): Promise<number> {
    const volumes = await this.db.volume.findMany({ where: { datasetId, role: { in: ['public_test', 'private_test'] }, labelKey: { not: null } }, select: { depth: true, height: true, width: true } });
    return volumes.reduce((n, v) => n + v.depth * v.height * v.width, 0);
  }

  /** The end-of-run scoring is a prediction too: the same budget (MAX_PREDICTION_VOXEL_PASSES) holds. */
  private testScoringIssues(voxels: number, spec: ExperimentSpec, prefix: string) {
    const options = { axes: spec.predict?.axes ?? spec.axes, tta: spec.predict?.tta ?? false };
    return predictionCostIssues(voxels, options, this.limits).map((i) => ({ ...i, field: prefix + i.field.replace(/^\/options/, '/predict') }));
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
    const datasetId = await this.datasetId(spec.dataset, '/dataset', owner.projectId);
    await this.checkValidationVolumes(datasetId, spec, '/validationVolumes');
    const scoring = this.testScoringIssues(await this.testVoxels(datasetId), spec, '');
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
    await this.enqueueOrUndo(() => this.queues.enqueue('training', { experimentId: id, spec }, id, place), () => this.registry.discard(id));
    return { experiment, replayed: false };
  }

  /**
   * Queues only after the rows are committed (a worker may pick a job up within milliseconds and
   * must find its row); if the queue refuses, the rows are removed again, so nothing is left
   * half-written.
   */
  private async enqueueOrUndo(enqueue: () => Promise<unknown>, undo: () => Promise<unknown>) {
    try {
      // BullMQ waits for a connection that is down instead of failing: give up after a few seconds.
      await withinEnqueueTimeout(enqueue());
    } catch (e) {
      await undo();
      throw new HttpError(503, `the queue is not available, nothing was created: ${(e as Error).message}`);
    }
  }

  /** Datasets and validation volumes of a sweep's runs exist; the rows to insert for them. */
  private async sweepRows(sweep: SweepSpec, sweepId: string, trials: SweepTrial[], owner: Owner): Promise<NewExperiment[]> {
    const names = [...new Set(trials.map((t) => t.spec.dataset))];
    const ids = new Map<string, string>();
    for (const n of names) ids.set(n, await this.datasetId(n, '/base/dataset', owner.projectId));
    const voxels = new Map<string, number>();
    for (const [n, id] of ids) voxels.set(n, await this.testVoxels(id));
    for (const { spec } of trials) await this.checkValidationVolumes(ids.get(spec.dataset)!, spec, sweep.grid ? '/grid/validationVolumes' : '/base/validationVolumes');
    const scoring = trials.flatMap(({ spec }) => this.testScoringIssues(voxels.get(spec.dataset)!, spec, '/base'));
    if (scoring.length) throw invalid('sweep', [scoring[0]]);
    const asha = sweep.strategy === 'asha' ? sweep.asha! : null;
    return trials.map(({ spec, index }) => ({
      id: randomUUID(),
      sweepId,
      apiKeyId: owner.apiKeyId,
      projectId: owner.projectId,
      createdById: owner.userId,
      spec: spec as unknown as Prisma.InputJsonValue,
      datasetId: ids.get(spec.dataset)!,
      priority: sweep.priority ?? null,
      trialIndex: index,
      // ASHA trials start at rung 0 and pause at its epoch.
      ...(asha ? { rung: 0, pauseAtEpoch: pauseEpochOf(asha, 0) } : {}),
      ...columnsOf(spec),
    }));
  }

  private enqueueRows(rows: NewExperiment[], places: { queuePriority: number }[]) {
    return this.queues.enqueueBulk('training', rows.map((r, i) => ({ jobId: r.id!, payload: { experimentId: r.id!, spec: r.spec as unknown as ExperimentSpec }, priority: places[i].queuePriority })));
  }

  private sweepWithRuns(sweepId: string) {
    return this.db.sweep.findUniqueOrThrow({
      where: { id: sweepId },
      include: { experiments: { orderBy: [{ trialIndex: 'asc' }, { createdAt: 'asc' }], include: { sweep: { select: { closedAt: true } } } } },
    });
  }

  async createSweep(sweep: SweepSpec, owner: Owner) {
    const { trials, issues } = expandSweep(sweep, this.limits);
    if (issues.length) throw invalid('sweep', issues);
    const sweepId = randomUUID();
    const rows = await this.sweepRows(sweep, sweepId, trials, owner);
    const strategy = sweep.strategy ?? 'grid';
    const places = await this.registry.createSweep(
      { id: sweepId, name: sweep.name, grid: sweep as unknown as Prisma.InputJsonValue, strategy, asha: strategy === 'asha' ? (sweep.asha as unknown as Prisma.InputJsonValue) : undefined, projectId: owner.projectId, createdById: owner.userId },
      rows,
      (tx) => lockActiveQuota(tx, owner.userId, rows.length, this.limits),
    );
    await this.enqueueOrUndo(() => this.enqueueRows(rows, places), () => this.registry.discardSweep(sweepId));
    return this.sweepWithRuns(sweepId);
  }

  private async sweepRequest(id: string) {
    const row = await this.db.sweep.findUnique({ where: { id }, include: { _count: { select: { experiments: true } } } });
    if (!row) throw notFound(`sweep ${id}`);
    return { row, request: row.grid as unknown as SweepSpec };
  }

  /**
   * Adds `count` trials to a random or ASHA sweep: trials n..n+count-1 of its space and seed,
   * exactly those a larger first request would have drawn. Queued after the commit, removed again
   * if the queue refuses.
   */
  async extendSweep(id: string, count: number, owner: Owner) {
    const { row, request } = await this.sweepRequest(id);
    if (!request.space) throw new HttpError(409, `sweep ${id} is a ${row.strategy} sweep over a grid; only random and asha sweeps over a space can be extended`, [{ field: '/trials', message: 'this sweep has no space to sample from' }]);
    const last = await this.db.experiment.aggregate({ where: { sweepId: id }, _max: { trialIndex: true } });
    const from = (last._max.trialIndex ?? row._count.experiments - 1) + 1;
    const { trials, issues } = expandSweep(request, this.limits, { from, count });
    if (issues.length) throw invalid('extension', issues);
    // Added trials belong to the sweep's project, whoever extends it; their quota is the extender's.
    const rows = await this.sweepRows(request, id, trials, { ...owner, projectId: row.projectId });
    const places = await this.registry.addToSweep(id, rows, (tx) => lockActiveQuota(tx, owner.userId, rows.length, this.limits));
    await this.enqueueOrUndo(() => this.enqueueRows(rows, places), () => this.registry.discardMany(rows.map((r) => r.id!)));
    return this.sweepWithRuns(id);
  }

  /**
   * Re-queues a sweep's failed and cancelled cells; each resumes from its last checkpoint (the
   * worker's usual pickup). Their old jobs, finished in Redis, are removed first so the new ones
   * can take the same ids. A cell whose job the queue refuses goes back to the state it had.
   */
  async rerunSweep(id: string) {
    await this.sweepRequest(id);
    const candidates = await this.db.experiment.findMany({ where: { sweepId: id, status: { in: ['failed', 'cancelled'] } }, select: { id: true } });
    // A cell whose job is still active (a cancel its worker has not seen yet) is left for a later
    // re-run: its worker would end the re-queued row as soon as it looked.
    const busy: string[] = [];
    for (const c of candidates) {
      await this.enqueueOrUndo(async () => {
        if (!(await removeFinishedJob(this.queues, c.id))) busy.push(c.id);
      }, async () => undefined);
    }
    const rows = await this.registry.rerunSweep(id, busy);
    const requeued: string[] = [];
    for (const [i, r] of rows.entries()) {
      try {
        await enqueueFresh(this.queues, this.registry, r);
        requeued.push(r.id);
      } catch (e) {
        for (const left of rows.slice(i)) await this.registry.undoRerun(left.id, left.was);
        throw new HttpError(503, `the queue is not available: ${requeued.length} of ${rows.length} cells were re-queued, the others left as they were (${(e as Error).message})`);
      }
    }
    return { sweep: await this.sweepWithRuns(id), requeued };
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
