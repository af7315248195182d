import type { PrismaClient } from '@capillary/db';
import { ExperimentSpec, PredictionOptions, Validator } from '@capillary/contracts';
import { planShards, predictionCost } from '@capillary/engine/planning';
import { resampledLength } from '@capillary/volumes';

const specValidator = new Validator('experiment spec', ExperimentSpec);
const optionsValidator = new Validator('prediction options', PredictionOptions);

type Plane = 'xy' | 'xz' | 'yz';

/** One shard of a prediction's plan: `id` is "<volume index>-<shard index>". */
export interface PlannedShard {
  id: string;
  volumeId: string;
  plane: Plane;
  start: number;
  end: number;
}

/**
 * The shards a prediction fans out: every volume whose prediction costs more than one shard
 * (`maxPasses` voxel passes) is cut into plane ranges; smaller volumes are predicted whole by the
 * job that merges. Deterministic for the rows, so every pickup of the job plans the same shards.
 */
export async function planPrediction(db: PrismaClient, predictionId: string, maxPasses: number): Promise<PlannedShard[]> {
  const prediction = await db.prediction.findUniqueOrThrow({ where: { id: predictionId }, include: { experiment: true } });
  const spec = specValidator.parse(prediction.experiment.spec);
  const options = optionsValidator.parse(prediction.options ?? {});
  // Pseudo-label predictions stay on one worker: they are made of sparse volumes, not whole kidneys.
  if (options.pseudoLabelDataset) return [];
  const dataset = await db.dataset.findUnique({ where: { name: prediction.datasetName }, include: { volumes: { orderBy: { name: 'asc' } } } });
  if (!dataset) return [];
  const axes = (options.axes ?? spec.axes) as Plane[];
  const scale = options.predictScale ?? 1;
  const shards: PlannedShard[] = [];
  dataset.volumes.forEach((v, i) => {
    const grid = [v.depth, v.height, v.width].map((n) => (scale === 1 ? n : resampledLength(n, scale))) as [number, number, number];
    if (predictionCost(grid, axes, options.tta) <= maxPasses) return;
    planShards(grid, axes, options.tta, maxPasses).forEach((s, j) => shards.push({ id: `${i}-${j}`, volumeId: v.id, ...s }));
  });
  return shards;
}
