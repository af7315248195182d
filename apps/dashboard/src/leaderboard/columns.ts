import { fmtDuration, fmtLr, fmtScore } from '../format.ts';
import type { LeaderboardRow } from '../types.ts';

/** What the table needs to know besides the row: which sweeps are closed. */
export interface RowContext {
  closedSweeps: ReadonlySet<string>;
}

export const HIDDEN_PRIVATE = 'hidden until closed';

export interface Column {
  key: string;
  label: string;
  /** Sort value; null sorts last in both directions. */
  value(row: LeaderboardRow, ctx: RowContext): number | string | null;
  text(row: LeaderboardRow, ctx: RowContext): string;
  numeric?: boolean;
  /** A training parameter: inside a sweep, shown only when its values differ. */
  param?: boolean;
}

const str = (k: keyof LeaderboardRow): Pick<Column, 'value' | 'text'> => ({
  value: (r) => (r[k] as string | null) ?? null,
  text: (r) => (r[k] as string | null) ?? '—',
});

export const COLUMNS: Column[] = [
  { key: 'rank', label: '#', numeric: true, value: (r) => r.rank, text: (r) => (r.rank === null ? '—' : String(r.rank)) },
  { key: 'name', label: 'name', ...str('name') },
  { key: 'model', label: 'model', param: true, ...str('model') },
  { key: 'encoder', label: 'encoder', param: true, ...str('encoder') },
  { key: 'inputMode', label: 'input', param: true, ...str('inputMode') },
  { key: 'epochs', label: 'epochs', numeric: true, param: true, value: (r) => r.epochs, text: (r) => String(r.epochs) },
  { key: 'lr', label: 'lr', numeric: true, param: true, value: (r) => r.lr, text: (r) => fmtLr(r.lr) },
  { key: 'augmentationP', label: 'aug p', numeric: true, param: true, value: (r) => r.augmentationP, text: (r) => String(r.augmentationP) },
  { key: 'batchSize', label: 'batch', numeric: true, param: true, value: (r) => r.batchSize, text: (r) => String(r.batchSize) },
  { key: 'seed', label: 'seed', numeric: true, param: true, value: (r) => r.seed, text: (r) => String(r.seed) },
  { key: 'score', label: 'score (sDice)', numeric: true, value: (r) => r.score, text: (r) => (scoreFromCrops(r) ? `${fmtScore(r.score)} ${CROP_SCORE}` : fmtScore(r.score)) },
  { key: 'scoreSource', label: 'scored on', value: (r) => scoredOn(r), text: (r) => scoredOn(r) },
  {
    key: 'privateScore',
    label: 'private',
    numeric: true,
    value: (r, c) => (isPrivateHidden(r, c) ? null : r.privateScore),
    text: (r, c) => (isPrivateHidden(r, c) ? HIDDEN_PRIVATE : fmtScore(r.privateScore)),
  },
  { key: 'status', label: 'status', ...str('status') },
  { key: 'backend', label: 'backend', ...str('backend') },
  { key: 'durationMs', label: 'duration', numeric: true, value: (r) => r.durationMs, text: (r) => fmtDuration(r.durationMs) },
  { key: 'sweepName', label: 'sweep', ...str('sweepName') },
];

export const COLUMN_BY_KEY = new Map(COLUMNS.map((c) => [c.key, c]));

/**
 * Private-test scores stay hidden until the sweep (or the lone experiment) is closed; a sweep
 * closed on this page counts at once, before the rows are fetched again.
 */
export function isPrivateHidden(row: LeaderboardRow, ctx: RowContext): boolean {
  return !row.privateRevealed && !(row.sweepId !== null && ctx.closedSweeps.has(row.sweepId));
}

const SOURCE_TEXT = { public_test: 'public test', validation: 'validation', training: 'training volumes' } as const;

/** Marks a run whose best epoch was chosen on its own training volumes. */
export const VALIDATED_ON_TRAINING = 'validated on train';

/** Where the score comes from, and a run that validated on its own training volumes. */
export function scoredOn(row: LeaderboardRow): string {
  const source = row.scoreSource ? SOURCE_TEXT[row.scoreSource] : '—';
  return row.validatedOnTraining && row.scoreSource !== 'training' ? `${source} · ${VALIDATED_ON_TRAINING}` : source;
}

/** Marks a score measured on crops of the validation volumes. */
export const CROP_SCORE = 'crop';

/**
 * The score shown is the best epoch's mean over validation crops: the run validated within its
 * budget and its whole-volume score is not known yet (it replaces the crops' once the run ends).
 */
export function scoreFromCrops(row: LeaderboardRow): boolean {
  return row.validationCrops && row.wholeValidationScore === null && row.scoreSource !== 'public_test' && row.score !== null;
}
