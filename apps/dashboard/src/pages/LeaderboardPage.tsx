import { useMemo, useState } from 'preact/hooks';
import { api, get } from '../api.ts';
import { usePolled } from '../hooks.ts';
import { useAllowed } from '../session.ts';
import { href } from '../router.ts';
import { COLUMNS, type RowContext } from '../leaderboard/columns.ts';
import { LeaderboardTable } from '../leaderboard/LeaderboardTable.tsx';
import { filterRows, groupBySweep, sortRows, type Filters, type SortState } from '../leaderboard/table-model.ts';
import { fmtScore } from '../format.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import type { LeaderboardRow, SweepSummary } from '../types.ts';

interface Board {
  rows: LeaderboardRow[];
  sweeps: SweepSummary[];
}

const DEFAULT_SORT: SortState = { key: 'rank', dir: 'asc' };
const PARAM_KEYS = new Set(COLUMNS.filter((c) => c.param).map((c) => c.key));

let early: Promise<Board> | null = null;

/** Starts the first load before the app has rendered (main.tsx calls it on the leaderboard's URL). */
export function preloadBoard(): void {
  const load = loadBoard(new AbortController().signal);
  early = load;
  // Refused (not signed in yet): the page, once shown, loads afresh instead of showing the refusal.
  load.catch(() => {
    if (early === load) early = null;
  });
}

async function loadBoard(signal: AbortSignal): Promise<Board> {
  if (early) {
    const e = early;
    early = null;
    return e;
  }
  const [lb, sw] = await Promise.all([
    get<{ rows: LeaderboardRow[] }>('/leaderboard?limit=5000', signal),
    get<{ items: SweepSummary[] }>('/sweeps', signal),
  ]);
  return { rows: lb.rows, sweeps: sw.items };
}

/** Polls fast while anything is queued or running, slowly once everything has settled. */
const pollEvery = (b: Board | undefined) => (b?.rows.some((r) => r.status === 'queued' || r.status === 'held' || r.status === 'running') ? 2000 : 10000);

export function LeaderboardPage() {
  const board = usePolled(loadBoard, [], pollEvery);
  const may = useAllowed();
  const [sort, setSort] = useState<SortState>(DEFAULT_SORT);
  const [filters, setFilters] = useState<Filters>({});
  const [grouped, setGrouped] = useState(false);
  const [closeError, setCloseError] = useState<Error>();

  const closedKey = board.data?.sweeps.filter((s) => s.closedAt).map((s) => s.id).join(',') ?? '';
  const ctx = useMemo<RowContext>(() => ({ closedSweeps: new Set(closedKey ? closedKey.split(',') : []) }), [closedKey]);
  const rows = board.data?.rows ?? [];
  const shown = useMemo(() => sortRows(filterRows(rows, filters, ctx), sort, ctx), [rows, filters, sort, ctx]);
  const groups = useMemo(() => (grouped ? groupBySweep(shown, ctx) : []), [grouped, shown, ctx]);

  const onSort = (key: string) =>
    setSort((s) => (s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: key === 'score' || key === 'privateScore' ? 'desc' : 'asc' }));
  const onFilter = (key: string, text: string) => setFilters((f) => ({ ...f, [key]: text }));
  const closeSweep = async (id: string) => {
    setCloseError(undefined);
    try {
      await api('POST', `/sweeps/${id}/close`);
      board.reload();
    } catch (e) {
      setCloseError(e as Error);
    }
  };
  const table = { ctx, sort, onSort, filters, onFilter };

  return (
    <section>
      <header class="page-head">
        <h1>Leaderboard</h1>
        <p class="muted">Ranked by validation surface Dice (public). Private-test scores of a sweep stay hidden until the sweep is closed.</p>
      </header>
      <div class="toolbar">
        <label>
          <input type="checkbox" checked={grouped} onChange={(e) => setGrouped((e.target as HTMLInputElement).checked)} data-testid="group-by-sweep" /> group by sweep
        </label>
        <button type="button" onClick={() => setFilters({})} disabled={!Object.values(filters).some(Boolean)}>
          clear filters
        </button>
        <span class="muted" data-testid="row-count">
          {shown.length} of {rows.length} experiments
        </span>
      </div>
      <ErrorNote error={board.error ?? closeError} />
      {!board.data && !board.error && <p class="muted">Loading…</p>}
      {board.data && rows.length === 0 && <p class="empty">No experiments yet. Submit one on the Queue page.</p>}
      {board.data && !grouped && rows.length > 0 && <LeaderboardTable rows={shown} columns={COLUMNS} {...table} />}
      {grouped &&
        groups.map((g) => (
          <section class="sweep-group" key={g.sweepId ?? 'none'} data-sweep={g.sweepId ?? ''}>
            <h2>
              {g.sweepId ? <a href={href(`/sweeps/${g.sweepId}`)} data-testid="sweep-link">{g.name}</a> : g.name} <span class="muted">· {g.rows.length} runs · best {fmtScore(g.best)}</span>{' '}
              {g.sweepId && (g.closed ? <span class="badge">closed</span> : may.close && <button type="button" onClick={() => closeSweep(g.sweepId!)}>close sweep (reveal private scores)</button>)}
            </h2>
            {g.shared.length > 0 && (
              <p class="shared muted">
                same in every run: {g.shared.map(([k, v]) => `${k} ${v}`).join(' · ')}
              </p>
            )}
            <LeaderboardTable rows={g.rows} columns={COLUMNS.filter((c) => (c.key === 'sweepName' ? false : !PARAM_KEYS.has(c.key) || g.varying.includes(c)))} {...table} />
          </section>
        ))}
    </section>
  );
}
