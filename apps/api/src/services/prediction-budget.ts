import type { FastifyInstance } from 'fastify';
import { predictionCostIssues, type ExperimentSpec, type PredictionOptions } from '@capillary/contracts';
import { invalid } from './errors.ts';

/**
 * Refuses (400, with the estimate and the limit) a prediction whose dataset voxels x axes x TTA
 * passes exceed MAX_PREDICTION_VOXEL_PASSES. Axes default to the experiment's, as the worker does.
 */
export async function checkPredictionBudget(
  app: Pick<FastifyInstance, 'db' | 'limits'>,
  experiment: { spec: unknown },
  dataset: string,
  options: Partial<PredictionOptions> | undefined,
) {
  const volumes = await app.db.volume.findMany({ where: { dataset: { name: dataset } }, select: { depth: true, height: true, width: true } });
  const voxels = volumes.reduce((n, v) => n + v.depth * v.height * v.width, 0);
  const axes = options?.axes ?? (experiment.spec as Partial<ExperimentSpec>).axes ?? ['xy'];
  const issues = predictionCostIssues(voxels, { axes, tta: options?.tta ?? false, predictScale: options?.predictScale }, app.limits, 'body');
  if (issues.length) throw invalid('prediction', issues);
}
