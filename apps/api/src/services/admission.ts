import {
  predictionCostIssues,
  type CostLimits,
  type ExperimentSpec,
} from '@capillary/contracts';
import type { PrismaClient } from '@capillary/db';
import { withinEnqueueTimeout } from '@capillary/registry';
import { HttpError, badField } from './errors.ts';

// What a run must pass before its row is written, alone or in a sweep: its dataset is the owner
// project's, its validation volumes exist and are not test volumes, and its end-of-run scoring fits
// the prediction budget. And how rows are queued once committed.

/** The checks of a run against the database, shared by lone experiments and sweeps. */
export class Admission {
  constructor(
    private readonly db: PrismaClient,
    private readonly limits: CostLimits,
  ) {}

  /** A dataset of the owner's project; another project's is as unknown as one never made. */
  async datasetId(name: string, field: string, projectId: string): Promise<string> {
    const ds = await this.db.dataset.findUnique({ where: { name } });
    if (!ds || ds.projectId !== projectId) throw badField(field, `no dataset named "${name}" in this project`);
    return ds.id;
  }

  async checkValidationVolumes(datasetId: string, spec: ExperimentSpec, field: string) {
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
  async testVoxels(datasetId: string): Promise<number> {
    const volumes = await this.db.volume.findMany({ where: { datasetId, role: { in: ['public_test', 'private_test'] }, labelKey: { not: null } }, select: { depth: true, height: true, width: true } });
    return volumes.reduce((n, v) => n + v.depth * v.height * v.width, 0);
  }

  /** The end-of-run scoring is a prediction too: the same budget (MAX_PREDICTION_VOXEL_PASSES) holds. */
  testScoringIssues(voxels: number, spec: ExperimentSpec, prefix: string) {
    const options = { axes: spec.predict?.axes ?? spec.axes, tta: spec.predict?.tta ?? false };
    return predictionCostIssues(voxels, options, this.limits).map((i) => ({ ...i, field: prefix + i.field.replace(/^\/options/, '/predict') }));
  }
}

/**
 * Queues only after the rows are committed (a worker may pick a job up within milliseconds and
 * must find its row); if the queue refuses, the rows are removed again, so nothing is left
 * half-written.
 */
export async function enqueueOrUndo(enqueue: () => Promise<unknown>, undo: () => Promise<unknown>) {
  try {
    // BullMQ waits for a connection that is down instead of failing: give up after a few seconds.
    await withinEnqueueTimeout(enqueue());
  } catch (e) {
    await undo();
    throw new HttpError(503, `the queue is not available, nothing was created: ${(e as Error).message}`);
  }
}
