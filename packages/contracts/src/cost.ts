// What a spec or a prediction will cost, estimated from its fields alone, so the API can refuse a
// run that no worker could hold in memory or finish in any reasonable time before it is queued.
import type { ExperimentSpec, PredictionOptions } from './spec.ts';
import type { FieldIssue } from './validate.ts';

const FLOAT_BYTES = 4;
const MB = 1024 * 1024;

/**
 * Activation tensors a plain U-Net level keeps alive for the backward pass, in units of one
 * feature map of that level (two conv-BN-ReLU blocks on each side, the skip concat, the
 * upsampling, and their gradients at the peak). Calibrated on the engine: 4 levels, 16 filters,
 * 256 x 256, batch 4 measured 0.57 GB of tensors (docs/engine.md); this gives 0.6 GB.
 */
const TENSORS_PER_LEVEL = 18;
/** Extra convolutions per level relative to the plain double-conv encoder. */
const ENCODER_FACTOR: Record<ExperimentSpec['encoder'], number> = { plain: 1, resnet: 1.5, resnext50: 3, resnext101: 5 };
/** Attention gates add projections and a gated copy of every skip. */
const MODEL_FACTOR: Record<ExperimentSpec['model'], number> = { unet: 1, 'unet25d': 1, 'attention-unet': 1.3 };
/** Weights, their gradients and Adam's two moments. */
const COPIES_PER_PARAM = 4;

export type CostFields = Pick<ExperimentSpec, 'tileSize' | 'batchSize' | 'baseFilters' | 'depth' | 'slices' | 'model' | 'encoder' | 'epochs' | 'stepsPerEpoch'>;

/** Estimated peak memory of one training step, in MB. */
export function stepMemoryMB(spec: CostFields): number {
  const pixels = spec.tileSize * spec.tileSize;
  let activations = 0;
  let params = 0;
  for (let level = 0; level < spec.depth; level++) {
    const filters = spec.baseFilters * 2 ** level;
    activations += (pixels / 4 ** level) * filters;
    // Four 3x3 convs per level (two in the encoder, two in the decoder).
    params += 4 * 9 * filters * filters;
  }
  const scale = ENCODER_FACTOR[spec.encoder] * MODEL_FACTOR[spec.model];
  const activationBytes = spec.batchSize * activations * TENSORS_PER_LEVEL * scale * FLOAT_BYTES;
  // The input batch, its augmented copy and the label.
  const inputBytes = spec.batchSize * pixels * (2 * spec.slices + 1) * FLOAT_BYTES;
  const paramBytes = params * scale * COPIES_PER_PARAM * FLOAT_BYTES;
  return (activationBytes + inputBytes + paramBytes) / MB;
}

/** Voxels pushed through the network over the whole run: epochs x steps x batch x tile² x slices. */
export function voxelSteps(spec: CostFields): number {
  return spec.epochs * spec.stepsPerEpoch * spec.batchSize * spec.tileSize * spec.tileSize * spec.slices;
}

/** Limits a spec or prediction must stay within (from the environment schema). */
export interface CostLimits {
  MAX_STEP_MEMORY_MB: number;
  MAX_VOXEL_STEPS: number;
  MAX_PREDICTION_VOXEL_PASSES: number;
}

/** Defaults a field falls back to when finding which field drives a cost (the spec's defaults). */
const BASELINE: Partial<CostFields> = { tileSize: 64, batchSize: 4, baseFilters: 8, depth: 3, slices: 1, encoder: 'plain', epochs: 10, stepsPerEpoch: 20 };

/**
 * The field that contributes most to a cost: the one whose reset to its default lowers the estimate
 * most. That is the field to name in the error, since changing it helps most.
 */
function heaviestField(spec: CostFields, cost: (s: CostFields) => number, fields: (keyof CostFields)[]): keyof CostFields {
  let best = fields[0];
  let lowest = Infinity;
  for (const f of fields) {
    const baseline = BASELINE[f];
    if (baseline === undefined) continue;
    const c = cost({ ...spec, [f]: baseline } as CostFields);
    if (c < lowest) {
      lowest = c;
      best = f;
    }
  }
  return best;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fmt = (n: number) => (n >= 1e6 ? n.toExponential(2) : Math.round(n).toLocaleString('en-US'));

/** Budget problems of a training spec, each naming the field that drives the cost. */
export function trainingCostIssues(spec: CostFields, limits: CostLimits, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const memory = stepMemoryMB(spec);
  if (memory > limits.MAX_STEP_MEMORY_MB) {
    const field = heaviestField(spec, stepMemoryMB, ['tileSize', 'batchSize', 'baseFilters', 'depth', 'encoder', 'slices']);
    issues.push({
      field: `${prefix}/${field}`,
      message: `one training step needs an estimated ${int(memory)} MB (tileSize ${spec.tileSize}, batchSize ${spec.batchSize}, baseFilters ${spec.baseFilters}, depth ${spec.depth}, slices ${spec.slices}, ${spec.model}/${spec.encoder}); the limit is ${int(limits.MAX_STEP_MEMORY_MB)} MB (MAX_STEP_MEMORY_MB)`,
    });
  }
  const work = voxelSteps(spec);
  if (work > limits.MAX_VOXEL_STEPS) {
    const field = heaviestField(spec, voxelSteps, ['epochs', 'stepsPerEpoch', 'tileSize', 'batchSize', 'slices']);
    issues.push({
      field: `${prefix}/${field}`,
      message: `the run pushes an estimated ${fmt(work)} voxel-steps (epochs ${spec.epochs} x stepsPerEpoch ${spec.stepsPerEpoch} x batchSize ${spec.batchSize} x tileSize² ${spec.tileSize ** 2} x slices ${spec.slices}); the limit is ${fmt(limits.MAX_VOXEL_STEPS)} (MAX_VOXEL_STEPS)`,
    });
  }
  return issues;
}

/** Forward passes per voxel with test-time augmentation: identity, horizontal, vertical and both flips. */
export const TTA_PASSES = 4;

/** Voxel passes of a prediction: the dataset's voxels (x predictScale³) x planes predicted x TTA passes. */
export function predictionVoxelPasses(voxels: number, options: Pick<PredictionOptions, 'tta' | 'predictScale'> & { axes: readonly string[] }): number {
  return voxels * (options.predictScale ?? 1) ** 3 * options.axes.length * (options.tta ? TTA_PASSES : 1);
}

/** Budget problem of a prediction request (`{ dataset, options }`), naming the field that drives it. */
export function predictionCostIssues(voxels: number, options: Pick<PredictionOptions, 'tta' | 'predictScale'> & { axes: readonly string[] }, limits: CostLimits, prefix = ''): FieldIssue[] {
  const passes = predictionVoxelPasses(voxels, options);
  if (passes <= limits.MAX_PREDICTION_VOXEL_PASSES) return [];
  const scale = options.predictScale ?? 1;
  // With one axis and no TTA the dataset itself is too large; otherwise the options multiply it.
  const field = `${prefix}${scale > 1 ? '/options/predictScale' : options.tta ? '/options/tta' : options.axes.length > 1 ? '/options/axes' : '/dataset'}`;
  const scaled = scale !== 1 ? ` x predictScale³ ${+(scale ** 3).toFixed(3)}` : '';
  return [{
    field,
    message: `the prediction needs an estimated ${fmt(passes)} voxel passes (${fmt(voxels)} voxels${scaled} x ${options.axes.length} axes x ${options.tta ? TTA_PASSES : 1} TTA passes); the limit is ${fmt(limits.MAX_PREDICTION_VOXEL_PASSES)} (MAX_PREDICTION_VOXEL_PASSES)`,
  }];
}
