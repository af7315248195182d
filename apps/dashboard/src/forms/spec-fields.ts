import { AXES, ENCODER_NAMES, LOSS_NAMES, MODEL_NAMES, NORMALIZATIONS } from '@capillary/contracts/api';
import type { FieldIssue } from '../api.ts';

export type FieldKind = 'text' | 'textarea' | 'int' | 'number' | 'select' | 'axes' | 'dataset';

export interface FieldDef {
  key: string;
  label: string;
  kind: FieldKind;
  options?: readonly string[];
  /** Shown as the placeholder: what the API fills in when the field is left empty. */
  hint?: string;
  /** Listed under "more settings" rather than at the top. */
  advanced?: boolean;
}

export const SPEC_FIELDS: FieldDef[] = [
  { key: 'name', label: 'name', kind: 'text', hint: 'optional' },
  { key: 'dataset', label: 'dataset', kind: 'dataset' },
  { key: 'model', label: 'model', kind: 'select', options: MODEL_NAMES },
  { key: 'encoder', label: 'encoder', kind: 'select', options: ENCODER_NAMES, hint: 'plain' },
  { key: 'slices', label: 'slices (2.5D channels)', kind: 'int', hint: '1 (3 for unet25d)' },
  { key: 'epochs', label: 'epochs', kind: 'int' },
  { key: 'lr', label: 'learning rate', kind: 'number', hint: 'e.g. 6e-4' },
  { key: 'augmentationP', label: 'augmentation p', kind: 'number', hint: '0.5' },
  { key: 'batchSize', label: 'batch size', kind: 'int', hint: '4' },
  { key: 'tileSize', label: 'tile size', kind: 'int', hint: '64' },
  { key: 'stepsPerEpoch', label: 'steps per epoch', kind: 'int', hint: '20' },
  { key: 'baseFilters', label: 'base filters', kind: 'int', hint: '8' },
  { key: 'depth', label: 'depth', kind: 'int', hint: '3' },
  { key: 'axes', label: 'axes', kind: 'axes', options: AXES, advanced: true },
  { key: 'seed', label: 'seed', kind: 'int', hint: '0', advanced: true },
  { key: 'loss', label: 'loss', kind: 'select', options: LOSS_NAMES, hint: 'bce-dice', advanced: true },
  { key: 'normalization', label: 'normalization', kind: 'select', options: NORMALIZATIONS, hint: 'batch', advanced: true },
  { key: 'dropout', label: 'dropout', kind: 'number', hint: '0', advanced: true },
  { key: 'warmupEpochs', label: 'warm-up epochs', kind: 'int', hint: '0', advanced: true },
  { key: 'earlyStopPatience', label: 'early-stop patience', kind: 'int', hint: 'off', advanced: true },
  { key: 'threshold', label: 'threshold', kind: 'number', hint: '0.5', advanced: true },
  { key: 'notes', label: 'notes', kind: 'textarea', advanced: true },
];

/** The fields a sweep grid may list several values for. */
export const GRID_FIELDS = ['model', 'encoder', 'epochs', 'lr', 'augmentationP', 'batchSize', 'seed', 'slices'] as const;

export type FormValues = Record<string, string>;

const NUMBER = /^\s*-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i;

/**
 * One form value as JSON: numbers when they read as numbers, otherwise the text as typed, so that
 * the API (not the form) decides what is wrong and says so per field.
 */
export function parseValue(def: FieldDef | undefined, raw: string): unknown {
  if (def?.kind === 'axes') return raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (def && (def.kind === 'int' || def.kind === 'number')) return NUMBER.test(raw) ? Number(raw) : raw;
  return raw;
}

const DEF_BY_KEY = new Map(SPEC_FIELDS.map((f) => [f.key, f]));

/** The experiment spec a form describes; empty fields are left out for the API's defaults. */
export function specFromForm(values: FormValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v.trim() === '') continue;
    out[k] = parseValue(DEF_BY_KEY.get(k), v);
  }
  return out;
}

/** A grid cell "1e-3, 6e-4" as a list of values of the field's type. */
export function gridFromForm(values: FormValues): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const k of GRID_FIELDS) {
    const raw = values[k];
    if (!raw || !raw.trim()) continue;
    out[k] = raw.split(',').map((s) => s.trim()).filter(Boolean).map((s) => parseValue(DEF_BY_KEY.get(k), s));
  }
  return out;
}

/** Number of runs a grid expands to. */
export function gridSize(grid: Record<string, unknown[]>): number {
  return Object.values(grid).reduce((n, v) => n * v.length, 1);
}

/**
 * Where an API issue belongs in a form: `body/epochs` and `/epochs` -> `epochs`; for sweeps
 * `body/base/lr` -> `base.lr`, `body/grid/lr/1` -> `grid.lr`, and a rule broken by one run of the
 * grid (`/experiments/3/slices`) -> the grid's field when the grid lists it, else the base's.
 * Returns null for issues that name no field of the form.
 */
export function issueTarget(field: string, gridKeys: readonly string[] = []): string | null {
  const parts = field.split('/').filter(Boolean);
  if (parts[0] === 'body') parts.shift();
  if (!parts.length) return null;
  if (parts[0] === 'base' && parts[1]) return `base.${parts[1]}`;
  if (parts[0] === 'grid') return parts[1] ? `grid.${parts[1]}` : 'grid';
  if (parts[0] === 'experiments' && parts[2]) return gridKeys.includes(parts[2]) ? `grid.${parts[2]}` : `base.${parts[2]}`;
  return parts[0];
}

/** Groups issues by form target; those that fit no field go under ''. */
export function issuesByTarget(issues: FieldIssue[], known: ReadonlySet<string>, gridKeys: readonly string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const i of issues) {
    let t = issueTarget(i.field, gridKeys) ?? '';
    if (!known.has(t)) t = '';
    const list = out.get(t) ?? [];
    const text = t === '' ? `${i.field} ${i.message}` : i.message;
    if (!list.includes(text)) list.push(text);
    out.set(t, list);
  }
  return out;
}
