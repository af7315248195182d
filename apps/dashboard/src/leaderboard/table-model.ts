import { COLUMNS, COLUMN_BY_KEY, type Column, type RowContext } from './columns.ts';
import type { LeaderboardRow } from '../types.ts';

export interface SortState {
  key: string;
  dir: 'asc' | 'desc';
}

/** Per-column filter text. */
export type Filters = Record<string, string>;

const COMPARISON = /^\s*(>=|<=|>|<|=)\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i;
const RANGE = /^\s*(-?[\d.]+(?:e-?\d+)?)\s*\.\.\s*(-?[\d.]+(?:e-?\d+)?)\s*$/i;

/**
 * A predicate for one column's filter text: on numeric columns `>0.5`, `<=1e-3`, `=19` and `1..10`
 * compare values; anything else matches the shown text, case-insensitively.
 */
export function columnFilter(column: Column, text: string, ctx: RowContext): ((row: LeaderboardRow) => boolean) | null {
  const t = text.trim();
  if (!t) return null;
  if (column.numeric) {
    const cmp = COMPARISON.exec(t);
    if (cmp) {
      const x = Number(cmp[2]);
      const test = { '>': (v: number) => v > x, '<': (v: number) => v < x, '>=': (v: number) => v >= x, '<=': (v: number) => v <= x, '=': (v: number) => v === x }[cmp[1]]!;
      return (r) => {
        const v = column.value(r, ctx);
        return typeof v === 'number' && test(v);
      };
    }
    const range = RANGE.exec(t);
    if (range) {
      const lo = Number(range[1]);
      const hi = Number(range[2]);
      return (r) => {
        const v = column.value(r, ctx);
        return typeof v === 'number' && v >= lo && v <= hi;
      };
    }
  }
  const needle = t.toLowerCase();
  return (r) => column.text(r, ctx).toLowerCase().includes(needle);
}

export function filterRows(rows: LeaderboardRow[], filters: Filters, ctx: RowContext): LeaderboardRow[] {
  const tests = Object.entries(filters)
    .map(([key, text]) => {
      const col = COLUMN_BY_KEY.get(key);
      return col ? columnFilter(col, text, ctx) : null;
    })
    .filter((t): t is (r: LeaderboardRow) => boolean => t !== null);
  return tests.length ? rows.filter((r) => tests.every((t) => t(r))) : rows;
}

/** Sorts a copy; missing values go last whichever the direction; ties keep the API's ranking order. */
export function sortRows(rows: LeaderboardRow[], sort: SortState, ctx: RowContext): LeaderboardRow[] {
  const col = COLUMN_BY_KEY.get(sort.key) ?? COLUMNS[0];
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keyed = rows.map((row, i) => ({ row, i, v: col.value(row, ctx) }));
  keyed.sort((a, b) => {
    if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : a.v === null ? 1 : -1;
    const d = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
    return d !== 0 ? sign * d : a.i - b.i;
  });
  return keyed.map((k) => k.row);
}

export interface SweepGroup {
  sweepId: string | null;
  name: string;
  closed: boolean;
  rows: LeaderboardRow[];
  /** Parameter columns whose values differ between the group's rows. */
  varying: Column[];
  /** The parameters all rows share, as [label, value] for the group's header. */
  shared: [string, string][];
  best: number | null;
}

/**
 * Groups rows by sweep (experiments outside any sweep form one group). Inside a sweep only the
 * parameters that differ are columns, the shared ones are said once; groups are ordered by their
 * best score.
 */
export function groupBySweep(rows: LeaderboardRow[], ctx: RowContext): SweepGroup[] {
  const groups = new Map<string, LeaderboardRow[]>();
  for (const r of rows) {
    const k = r.sweepId ?? '';
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(r);
  }
  const params = COLUMNS.filter((c) => c.param);
  const out: SweepGroup[] = [];
  for (const [k, g] of groups) {
    const varying: Column[] = [];
    const shared: [string, string][] = [];
    for (const c of params) {
      const first = c.text(g[0], ctx);
      if (k !== '' && g.every((r) => c.text(r, ctx) === first)) shared.push([c.label, first]);
      else varying.push(c);
    }
    const scores = g.map((r) => r.score).filter((s): s is number => s !== null);
    out.push({
      sweepId: k || null,
      name: k ? (g[0].sweepName ?? k) : 'Not in a sweep',
      closed: k ? ctx.closedSweeps.has(k) : false,
      rows: g,
      varying,
      shared,
      best: scores.length ? Math.max(...scores) : null,
    });
  }
  out.sort((a, b) => (b.best ?? -1) - (a.best ?? -1) || a.name.localeCompare(b.name));
  return out;
}
