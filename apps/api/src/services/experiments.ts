import { randomUUID } from 'node:crypto';
import {
  ExperimentSpec,
  MAX_SWEEP_SIZE,
  Validator,
  ValidationError,
  applyModelDefaults,
  inputModeOf,
  specRuleIssues,
  type FieldIssue,
  type SweepSpec,
} from '@capillary/contracts';
import type { Prisma, PrismaClient, Experiment } from '@capillary/db';
import type { EventPublisher, JobQueues } from '@capillary/queue';
import { NotRunnableError, TransitionError, type ExperimentRegistry } from '@capillary/registry';
import { HttpError, badField, invalid, notFound } from './errors.ts';

const specValidator = new Validator('experiment', ExperimentSpec);
const ENQUEUE_TIMEOUT_MS = 5000;

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

/** Expands a sweep grid into full specs (cartesian product over the listed fields). */
export function expandGrid(sweep: SweepSpec): { specs: ExperimentSpec[]; issues: FieldIssue[] } {
  let combos: Record<string, unknown>[] = [{}];
  for (const [field, values] of Object.entries(sweep.grid)) {
    if (!values) continue;
    combos = combos.flatMap((c) => (values as unknown[]).map((v) => ({ ...c, [field]: v })));
  }
  if (combos.length > MAX_SWEEP_SIZE) {
    return { specs: [], issues: [{ field: '/grid', message: `expands to ${combos.length} experiments; at most ${MAX_SWEEP_SIZE}` }] };
  }
  const specs: ExperimentSpec[] = [];
  const issues: FieldIssue[] = [];
  combos.forEach((combo, i) => {
    const raw = applyModelDefaults({ ...structuredClone(sweep.base), ...combo });
    let spec: ExperimentSpec;
    try {
      spec = specValidator.parse(raw);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      // A field missing from both base and grid is a problem of the base, reported once.
      for (const f of e.issues) {
        const field = `/base${f.field}`;
        if (!issues.some((x) => x.field === field && x.message === f.message)) issues.push({ field, message: f.message });
      }
      return;
    }
    for (const f of specRuleIssues(spec, `/experiments/${i}`)) issues.push(f);
    specs.push(spec);
  });
  return { specs, issues };
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
  ) {}

  private async datasetId(name: string, field: string): Promise<string> {
    const ds = await this.db.dataset.findUnique({ where: { name } });
    if (!ds) throw badField(field, `no dataset named "${name}"`);
    return ds.id;
  }

  private async checkValidationVolumes(datasetId: string, spec: ExperimentSpec, field: string) {
    if (!spec.validationVolumes) return;
    const found = await this.db.volume.findMany({ where: { datasetId, name: { in: spec.validationVolumes } }, select: { name: true } });
    const missing = spec.validationVolumes.filter((n) => !found.some((f) => f.name === n));
    if (missing.length) {
      throw badField(field, `no volume named ${missing.map((m) => `"${m}"`).join(', ')} in dataset "${spec.dataset}"`);
    }
  }

  async create(spec: ExperimentSpec, idempotencyKey?: string): Promise<{ experiment: Experiment; replayed: boolean }> {
    if (idempotencyKey) {
      const existing = await this.db.experiment.findUnique({ where: { idempotencyKey } });
      if (existing) return { experiment: existing, replayed: true };
    }
    const issues = specRuleIssues(spec);
    if (issues.length) throw invalid('experiment', issues);
    const datasetId = await this.datasetId(spec.dataset, '/dataset');
    await this.checkValidationVolumes(datasetId, spec, '/validationVolumes');
    const id = randomUUID();
    let experiment: Experiment;
    try {
      experiment = await this.registry.create({ id, spec: spec as unknown as Prisma.InputJsonValue, datasetId, idempotencyKey, ...columnsOf(spec) });
    } catch (e) {
      // Two retries with one key racing: the loser returns the winner's experiment.
      if (idempotencyKey && (e as { code?: string }).code === 'P2002') {
        const existing = await this.db.experiment.findUnique({ where: { idempotencyKey } });
        if (existing) return { experiment: existing, replayed: true };
      }
      throw e;
    }
    await this.enqueueOrUndo(() => this.queues.enqueue('training', { experimentId: id, spec }, id), () => this.registry.discard(id));
    return { experiment, replayed: false };
  }

  /**
   * Queues only after the rows are committed (a worker may pick a job up within milliseconds and
   * must find its row); if the queue refuses, the rows are removed again, so nothing is left
   * half-written.
   */
  private async enqueueOrUndo(enqueue: () => Promise<unknown>, undo: () => Promise<unknown>) {
    let timer: NodeJS.Timeout | undefined;
    // BullMQ waits for a connection that is down instead of failing: give up after a few seconds.
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ENQUEUE_TIMEOUT_MS / 1000} s`)), ENQUEUE_TIMEOUT_MS);
    });
    try {
      await Promise.race([enqueue(), timeout]);
    } catch (e) {
      await undo();
      throw new HttpError(503, `the queue is not available, nothing was created: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async createSweep(sweep: SweepSpec) {
    const { specs, issues } = expandGrid(sweep);
    if (issues.length) throw invalid('sweep', issues);
    const names = [...new Set(specs.map((s) => s.dataset))];
    const ids = new Map<string, string>();
    for (const n of names) ids.set(n, await this.datasetId(n, '/base/dataset'));
    for (const spec of specs) await this.checkValidationVolumes(ids.get(spec.dataset)!, spec, '/grid/validationVolumes');
    const sweepId = randomUUID();
    const rows = specs.map((spec) => ({
      id: randomUUID(),
      sweepId,
      spec: spec as unknown as Prisma.InputJsonValue,
      datasetId: ids.get(spec.dataset)!,
      ...columnsOf(spec),
    }));
    await this.registry.createSweep({ id: sweepId, name: sweep.name, grid: sweep as unknown as Prisma.InputJsonValue }, rows);
    await this.enqueueOrUndo(
      () => this.queues.enqueueBulk('training', rows.map((r, i) => ({ jobId: r.id, payload: { experimentId: r.id, spec: specs[i] } }))),
      () => this.registry.discardSweep(sweepId),
    );
    return this.db.sweep.findUniqueOrThrow({ where: { id: sweepId }, include: { experiments: { orderBy: { createdAt: 'asc' } } } });
  }

  async get(id: string) {
    const e = await this.db.experiment.findUnique({
      where: { id },
      include: {
        epochMetrics: { orderBy: { epoch: 'asc' } },
        checkpoints: { orderBy: { epoch: 'asc' } },
        attemptLog: { orderBy: { number: 'asc' } },
      },
    });
    if (!e) throw notFound(`experiment ${id}`);
    return e;
  }

  async list(filter: { status?: Experiment['status']; sweepId?: string; limit: number; offset: number }) {
    const where = { status: filter.status, sweepId: filter.sweepId };
    const [total, items] = await Promise.all([
      this.db.experiment.count({ where }),
      this.db.experiment.findMany({ where, orderBy: { createdAt: 'desc' }, take: filter.limit, skip: filter.offset }),
    ]);
    return { total, items };
  }

  /**
   * Cancels an experiment. The cancel is recorded in Postgres first (durable: a worker checks
   * it every few seconds and at every epoch commit, and refuses to start a cancelled run); then,
   * as the fast path, a waiting job is removed and the worker holding a running one is told over
   * pub/sub. Redis being down does not undo the cancel.
   */
  async cancel(id: string) {
    let updated: Experiment;
    try {
      updated = await this.registry.cancel(id);
    } catch (e) {
      if (e instanceof NotRunnableError) throw notFound(`experiment ${id}`);
      if (e instanceof TransitionError) throw new HttpError(409, `experiment ${id} already ${e.from}`);
      throw e;
    }
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
   * Ranked by best validation surface Dice; ties go to the experiment that finished first.
   * Unscored experiments follow, newest first.
   */
  async leaderboard(filter: { sweepId?: string; limit: number }) {
    const rows = await this.db.experiment.findMany({
      where: { sweepId: filter.sweepId },
      orderBy: [{ score: { sort: 'desc', nulls: 'last' } }, { finishedAt: { sort: 'asc', nulls: 'last' } }, { createdAt: 'desc' }],
      take: filter.limit,
      include: { sweep: { select: { name: true, closedAt: true } } },
    });
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
      bestEpoch: r.bestEpoch,
      // The private score stays hidden until its sweep is closed, so nobody tunes to it.
      privateScore: r.sweep?.closedAt ? r.privateScore : null,
      status: r.status,
      backend: r.backend,
      attempts: r.attempts,
      durationMs: r.startedAt && r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
      createdAt: r.createdAt.toISOString(),
      finishedAt: r.finishedAt?.toISOString() ?? null,
    }));
  }
}
