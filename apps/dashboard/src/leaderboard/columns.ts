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
  { key: 'score', label: 'public (val sDice)', numeric: true, value: (r) => r.score, text: (r) => fmtScore(r.score) },
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

/** A sweep's private-test scores stay hidden until the sweep is closed. */
export function isPrivateHidden(row: LeaderboardRow, ctx: RowContext): boolean {
  return row.sweepId !== null && !ctx.closedSweeps.has(row.sweepId);
}
