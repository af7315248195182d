import type { ExperimentSpec } from './spec.ts';
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

/** Rules across fields that a JSON schema cannot say. */
export function specRuleIssues(spec: ExperimentSpec, prefix = ''): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (spec.slices % 2 === 0) issues.push({ field: `${prefix}/slices`, message: 'must be odd (the centre slice is the one labelled)' });
  if (spec.model === 'unet25d' && spec.slices < 3) issues.push({ field: `${prefix}/slices`, message: 'must be at least 3 for unet25d' });
  if (spec.warmupEpochs >= spec.epochs && spec.warmupEpochs > 0) issues.push({ field: `${prefix}/warmupEpochs`, message: 'must be less than epochs' });
  if (typeof spec.loss === 'object' && !Object.values(spec.loss).some((w) => (w ?? 0) > 0)) issues.push({ field: `${prefix}/loss`, message: 'needs at least one term with a positive weight' });
  const out = spec.outputSlices ?? 1;
  if (out % 2 === 0) issues.push({ field: `${prefix}/outputSlices`, message: 'must be odd (centred on the input\'s centre slice)' });
  if (out > spec.slices) issues.push({ field: `${prefix}/outputSlices`, message: `must be at most slices (${spec.slices})` });
  if (spec.scaleRange && spec.scaleRange[0] > spec.scaleRange[1]) issues.push({ field: `${prefix}/scaleRange`, message: 'must be [min, max] with min <= max' });
  return issues;
}

/** Input mode shown on the leaderboard: 2D for one slice, 2.5D for stacked neighbours. */
export function inputModeOf(spec: Pick<ExperimentSpec, 'slices'>): '2d' | '2.5d' {
  return spec.slices > 1 ? '2.5d' : '2d';
}
