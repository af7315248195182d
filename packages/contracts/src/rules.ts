import { AXES, type ExperimentSpec } from './spec.ts';
import type { FieldIssue } from './validate.ts';

/**
 * Fills the defaults that depend on other fields, before schema defaults apply: a 2.5D U-Net
 * without `slices` gets 3 neighbouring slices.
 */
export function applyModelDefaults<T>(raw: T): T {
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    if (o.model === 'unet25d' && o.slices === undefined) o.slices = 3;
  }
  return raw;
}

/**
 * The spec's fields a tile sampler reads, as the sampler takes them. Its own callers (tests, benches)
 * may pass values the spec's schema would not (an 8-pixel tile), so these rules are only what
 * sampling itself needs; the schema narrows them further for specs.
 */
export interface SamplingFields {
  tileSize: number;
  slices: number;
  axes: readonly string[];
  batchSize: number;
  augmentationP: number;
  outputSlices?: number;
  rotation3dP?: number;
  rotation3dMaxDegrees?: number;
  scaleRange?: readonly [number, number];
}

const isPositiveInteger = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 1;
const inUnitRange = (p: number) => p >= 0 && p <= 1;

/**
 * `slices` and `outputSlices`: both are windows centred on one slice, so both are odd, and the
 * labelled window lies within the input window.
 */
export function sliceRuleIssues(o: { slices: number; outputSlices?: number }, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isPositiveInteger(o.slices)) issues.push({ field: `${prefix}/slices`, message: `must be a positive integer, got ${o.slices}` });
  else if (o.slices % 2 === 0) issues.push({ field: `${prefix}/slices`, message: 'must be odd (the centre slice is the one labelled)' });
  const out = o.outputSlices ?? 1;
  if (!isPositiveInteger(out)) {
    issues.push({ field: `${prefix}/outputSlices`, message: `must be a positive integer, got ${out}` });
    return issues;
  }
  if (out % 2 === 0) issues.push({ field: `${prefix}/outputSlices`, message: 'must be odd (centred on the input\'s centre slice)' });
  if (out > o.slices) issues.push({ field: `${prefix}/outputSlices`, message: `must be at most slices (${o.slices})` });
  return issues;
}

/** How many pixels one pixel of the network's coarsest level spans: it halves a tile `depth - 1` times. */
export const networkStride = (depth: number): number => 2 ** (depth - 1);

/** A tile passes through every level of the network whole, so it must divide by the network's stride. */
export function strideRuleIssues(o: Pick<ExperimentSpec, 'tileSize' | 'depth'>, prefix = ''): FieldIssue[] {
  const stride = networkStride(o.depth);
  if (o.tileSize % stride === 0) return [];
  return [{ field: `${prefix}/tileSize`, message: `${o.tileSize} must be divisible by ${stride}, the network's stride at depth ${o.depth}` }];
}

/** What drawing and augmenting tiles needs of the fields it reads (see {@link SamplingFields}). */
export function samplingRuleIssues(o: SamplingFields, prefix = ''): FieldIssue[] {
  const issues = sliceRuleIssues(o, prefix);
  const at = (field: string, message: string) => issues.push({ field: `${prefix}/${field}`, message });
  if (!isPositiveInteger(o.tileSize)) at('tileSize', `must be a positive integer, got ${o.tileSize}`);
  if (!isPositiveInteger(o.batchSize)) at('batchSize', `must be a positive integer, got ${o.batchSize}`);
  if (!Array.isArray(o.axes) || o.axes.length === 0 || o.axes.some((a) => !(AXES as readonly string[]).includes(a))) {
    at('axes', `must be a non-empty list of ${AXES.join(', ')}; got ${JSON.stringify(o.axes)}`);
  }
  if (!inUnitRange(o.augmentationP)) at('augmentationP', `must be in [0, 1], got ${o.augmentationP}`);
  if (o.rotation3dP !== undefined && !inUnitRange(o.rotation3dP)) at('rotation3dP', `must be in [0, 1], got ${o.rotation3dP}`);
  if (o.rotation3dMaxDegrees !== undefined && !(o.rotation3dMaxDegrees > 0 && o.rotation3dMaxDegrees <= 180)) {
    at('rotation3dMaxDegrees', `must be in (0, 180], got ${o.rotation3dMaxDegrees}`);
  }
  if (o.scaleRange) {
    // The scale is drawn log-uniformly, so both ends must be positive.
    if (!(o.scaleRange[0] > 0)) at('scaleRange/0', `must be positive, got ${o.scaleRange[0]}`);
    if (o.scaleRange[0] > o.scaleRange[1]) at('scaleRange', 'must be [min, max] with min <= max');
  }
  return issues;
}

/** The learning-rate schedule must reach its peak: warm-up ends before training does. */
export function scheduleRuleIssues(o: Pick<ExperimentSpec, 'epochs' | 'warmupEpochs'>, prefix = ''): FieldIssue[] {
  if (o.warmupEpochs >= o.epochs && o.warmupEpochs > 0) return [{ field: `${prefix}/warmupEpochs`, message: 'must be less than epochs' }];
  return [];
}

/** A loss given as weights must have a term to train by; a 2.5D U-Net needs neighbours to stack. */
export function modelRuleIssues(o: Pick<ExperimentSpec, 'model' | 'slices' | 'loss'>, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (o.model === 'unet25d' && o.slices < 3) issues.push({ field: `${prefix}/slices`, message: 'must be at least 3 for unet25d' });
  if (typeof o.loss === 'object' && !Object.values(o.loss).some((w) => (w ?? 0) > 0)) {
    issues.push({ field: `${prefix}/loss`, message: 'needs at least one term with a positive weight' });
  }
  return issues;
}

/**
 * Every rule across a spec's fields that its JSON schema cannot say: the one list the API checks
 * before accepting a spec and the engine checks before training it, so that whatever the API
 * accepts a worker can train. `prefix` places the fields inside a larger body (`/experiments/3`).
 */
export function specRuleIssues(spec: ExperimentSpec, prefix = ''): FieldIssue[] {
  return [
    ...samplingRuleIssues(spec, prefix),
    ...modelRuleIssues(spec, prefix),
    ...scheduleRuleIssues(spec, prefix),
    ...strideRuleIssues(spec, prefix),
  ];
}

/** An issue as one sentence naming its field (`tileSize 48 must be ...`), for errors thrown outside HTTP. */
export const issueText = (issue: FieldIssue): string => `${issue.field.replace(/^\//, '')} ${issue.message}`;

/** Input mode shown on the leaderboard: 2D for one slice, 2.5D for stacked neighbours. */
export function inputModeOf(spec: Pick<ExperimentSpec, 'slices'>): '2d' | '2.5d' {
  return spec.slices > 1 ? '2.5d' : '2d';
}
