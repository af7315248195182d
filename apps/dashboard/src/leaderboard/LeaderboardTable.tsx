import { memo } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import { CROP_SCORE, scoreFromCrops, type Column, type RowContext } from './columns.ts';
import { fmtScore } from '../format.ts';
import type { Filters, SortState } from './table-model.ts';
import type { LeaderboardRow } from '../types.ts';
import { href } from '../router.ts';
import { StatusBadge } from '../components/StatusBadge.tsx';

interface Props {
  rows: LeaderboardRow[];
  columns: Column[];
  ctx: RowContext;
  sort: SortState;
  onSort(key: string): void;
  filters: Filters;
  onFilter(key: string, text: string): void;
}

/** Rows in the first paint; the rest follow in the next frame, so the top shows at once. */
const FIRST_ROWS = 60;

/** One table of experiments: sortable headers, a filter box per column, one row per experiment. */
export function LeaderboardTable({ rows, columns, ctx, sort, onSort, filters, onFilter }: Props) {
  const [complete, setComplete] = useState(rows.length <= FIRST_ROWS);
  useEffect(() => {
    if (complete || rows.length <= FIRST_ROWS) return;
    // After the frame that paints the first rows (rAF runs before it, the timeout after it).
    let t: ReturnType<typeof setTimeout> | undefined;
    const f = requestAnimationFrame(() => (t = setTimeout(() => setComplete(true), 0)));
    return () => {
      cancelAnimationFrame(f);
      clearTimeout(t);
    };
  }, [complete, rows.length > FIRST_ROWS]);
  const shown = complete ? rows : rows.slice(0, FIRST_ROWS);
  return (
    <table class="lb" data-testid="leaderboard-table" data-complete={complete || rows.length <= FIRST_ROWS}>
      <thead>
        <tr>
          {columns.map((c) => (
            <th key={c.key} class={c.numeric ? 'num' : ''} aria-sort={sort.key === c.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : undefined}>
              <button type="button" class="sort" data-sort={c.key} onClick={() => onSort(c.key)}>
                {c.label}
                <span class="arrow">{sort.key === c.key ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</span>
              </button>
            </th>
          ))}
        </tr>
        <tr class="filters">
          {columns.map((c) => (
            <th key={c.key}>
              <input
                type="search"
                aria-label={`filter ${c.label}`}
                data-filter={c.key}
                placeholder={c.numeric ? '>0.5, 1..9' : 'filter'}
                value={filters[c.key] ?? ''}
                onInput={(e) => onFilter(c.key, (e.target as HTMLInputElement).value)}
              />
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {shown.map((r) => (
          <Row key={r.experimentId} row={r} columns={columns} ctx={ctx} />
        ))}
      </tbody>
    </table>
  );
}

// Rows re-render only when their data changes: polling hands back equal rows most of the time.
const Row = memo(
  function Row({ row, columns, ctx }: { row: LeaderboardRow; columns: Column[]; ctx: RowContext }) {
    return (
      <tr data-experiment={row.experimentId} data-status={row.status}>
        {columns.map((c) => (
          <td key={c.key} class={c.numeric ? 'num' : ''} data-col={c.key}>
            {cell(c, row, ctx)}
          </td>
        ))}
      </tr>
    );
  },
  (a, b) => a.columns === b.columns && a.ctx === b.ctx && sameRow(a.row, b.row),
);

function cell(c: Column, row: LeaderboardRow, ctx: RowContext) {
  const text = c.text(row, ctx);
  if (c.key === 'name') return <a href={href(`/experiments/${row.experimentId}`)}>{row.name ?? row.experimentId.slice(0, 8)}</a>;
  if (c.key === 'status') return <StatusBadge status={row.status} />;
  if (c.key === 'privateScore' && text === 'hidden until closed') return <span class="muted">{text}</span>;
  if (c.key === 'score' && scoreFromCrops(row)) {
    return (
      <>
        {fmtScore(row.score)}{' '}
        <span class="badge" data-crop-score title="mean over crops of the validation volumes (the spec's validation budget); the whole volumes are scored when the run ends">
          {CROP_SCORE}
        </span>
      </>
    );
  }
  if (c.key === 'scoreSource' && row.validatedOnTraining) {
    return (
      <span class="badge warn" data-validated-on-training title="no validation volumes: the best epoch was chosen on the training volumes">
        {text}
      </span>
    );
  }
  return text;
}

function sameRow(a: LeaderboardRow, b: LeaderboardRow): boolean {
  if (a === b) return true;
  for (const k in a) if (a[k as keyof LeaderboardRow] !== b[k as keyof LeaderboardRow]) return false;
  return true;
}
