import { randomUUID } from 'node:crypto';
import type { ExperimentSpec, CostLimits, SweepSpec } from '@capillary/contracts';
import type { Prisma, PrismaClient } from '@capillary/db';
import type { JobQueues } from '@capillary/queue';
import { columnsOf, enqueueFresh, pauseEpochOf, removeFinishedJob, type ExperimentRegistry, type NewExperiment, type RequeuedRow } from '@capillary/registry';
import { HttpError, invalid, notFound } from './errors.ts';
import { expandSweep, type SweepTrial } from '@capillary/search';
import { lockActiveQuota, type QuotaLimits } from './quota.ts';
import { enqueueOrUndo, type Admission } from './admission.ts';
import type { Owner } from '../auth/owner.ts';

/**
 * Sweeps as the API sees them, beside {@link ExperimentService}: expands a grid, random or ASHA
 * request into trials, checks each trial as a lone experiment is checked, writes them through the
 * registry in one transaction and queues them after the commit; extends and re-runs sweeps.
 */
export class SweepService {
  constructor(
    private readonly db: PrismaClient,
    private readonly registry: ExperimentRegistry,
    private readonly queues: JobQueues,
    private readonly limits: CostLimits & QuotaLimits,
    private readonly admission: Admission,
  ) {}

  /** Datasets and validation volumes of a sweep's runs exist; the rows to insert for them. */
  private async sweepRows(sweep: SweepSpec, sweepId: string, trials: SweepTrial[], owner: Owner): Promise<NewExperiment[]> {
    const names = [...new Set(trials.map((t) => t.spec.dataset))];
    const ids = new Map<string, string>();
    for (const n of names) ids.set(n, await this.admission.datasetId(n, '/base/dataset', owner.projectId));
    const voxels = new Map<string, number>();
    for (const [n, id] of ids) voxels.set(n, await this.admission.testVoxels(id));
    for (const { spec } of trials) await this.admission.checkValidationVolumes(ids.get(spec.dataset)!, spec, sweep.grid ? '/grid/validationVolumes' : '/base/validationVolumes');
    const scoring = trials.flatMap(({ spec }) => this.admission.testScoringIssues(voxels.get(spec.dataset)!, spec, '/base'));
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
      // PBT members pause at every interval, for the population's exploit decision.
      ...(sweep.strategy === 'pbt' ? { pauseAtEpoch: sweep.pbt!.perturbationInterval } : {}),
      ...columnsOf(spec),
    }));
  }

  /** The jobs of the rows queued now (a capped sweep's held rows get theirs when released). */
  private enqueueRows(rows: RequeuedRow[]) {
    return this.queues.enqueueBulk('training', rows.map((r) => ({ jobId: r.id, payload: { experimentId: r.id, spec: r.spec as ExperimentSpec }, priority: r.queuePriority! })));
  }

  /** A sweep's cap: the request's `maxConcurrent`, else its project's default for sweeps, else none. */
  private async capOf(sweep: SweepSpec, projectId: string): Promise<number | null> {
    if (sweep.maxConcurrent !== undefined) return sweep.maxConcurrent;
    const project = await this.db.project.findUnique({ where: { id: projectId }, select: { sweepMaxConcurrent: true } });
    return project?.sweepMaxConcurrent ?? null;
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
    const maxConcurrent = await this.capOf(sweep, owner.projectId);
    const { queued } = await this.registry.sweeps.createSweep(
      { id: sweepId, name: sweep.name, grid: sweep as unknown as Prisma.InputJsonValue, strategy, asha: strategy === 'asha' ? (sweep.asha as unknown as Prisma.InputJsonValue) : undefined, projectId: owner.projectId, createdById: owner.userId, maxConcurrent },
      rows,
      (tx) => lockActiveQuota(tx, owner.userId, rows.length, this.limits),
    );
    await enqueueOrUndo(() => this.enqueueRows(queued), () => this.registry.sweeps.discardSweep(sweepId));
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
    if (row.strategy === 'tpe') throw new HttpError(409, `sweep ${id} is a TPE search, which decides its own trials as others finish`, [{ field: '/trials', message: 'a tpe sweep cannot be extended' }]);
    if (row.strategy === 'pbt') throw new HttpError(409, `sweep ${id} is a population-based training, whose population trains in step`, [{ field: '/trials', message: 'a pbt sweep cannot be extended' }]);
    if (!request.space) throw new HttpError(409, `sweep ${id} is a ${row.strategy} sweep over a grid; only random and asha sweeps over a space can be extended`, [{ field: '/trials', message: 'this sweep has no space to sample from' }]);
    const last = await this.db.experiment.aggregate({ where: { sweepId: id }, _max: { trialIndex: true } });
    const from = (last._max.trialIndex ?? row._count.experiments - 1) + 1;
    const { trials, issues } = expandSweep(request, this.limits, { from, count });
    if (issues.length) throw invalid('extension', issues);
    // Added trials belong to the sweep's project, whoever extends it; their quota is the extender's.
    const rows = await this.sweepRows(request, id, trials, { ...owner, projectId: row.projectId });
    const { queued } = await this.registry.sweeps.addToSweep(id, rows, (tx) => lockActiveQuota(tx, owner.userId, rows.length, this.limits));
    await enqueueOrUndo(() => this.enqueueRows(queued), () => this.registry.discardMany(rows.map((r) => r.id!)));
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
      await enqueueOrUndo(async () => {
        if (!(await removeFinishedJob(this.queues, c.id))) busy.push(c.id);
      }, async () => undefined);
    }
    const rows = await this.registry.sweeps.rerunSweep(id, busy);
    // Held cells (a capped sweep) wait for places and get their jobs when released.
    const requeued = rows.filter((r) => r.status === 'held').map((r) => r.id);
    const queued = rows.filter((r) => r.status === 'queued');
    for (const [i, r] of queued.entries()) {
      try {
        await enqueueFresh(this.queues, this.registry, r);
        requeued.push(r.id);
      } catch (e) {
        for (const left of queued.slice(i)) await this.registry.sweeps.undoRerun(left.id, left.was);
        throw new HttpError(503, `the queue is not available: ${requeued.length} of ${rows.length} cells were re-queued or wait for a place, the others left as they were (${(e as Error).message})`);
      }
    }
    return { sweep: await this.sweepWithRuns(id), requeued };
  }
}
