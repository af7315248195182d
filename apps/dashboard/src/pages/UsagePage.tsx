import { get } from '../api.ts';
import { usePolled } from '../hooks.ts';
import { href, navigate, useLocation } from '../router.ts';
import { fmtDuration } from '../format.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import type { UsageReport } from '../types.ts';

const GROUPS = ['user', 'sweep', 'dataset'] as const;
type By = (typeof GROUPS)[number];

/** What the project's training cost: worker-seconds by user, sweep or dataset, hand-overs and re-runs included. */
export function UsagePage() {
  const loc = useLocation();
  const by: By = (GROUPS as readonly string[]).includes(loc.query.get('by') ?? '') ? (loc.query.get('by') as By) : 'user';
  const usage = usePolled((signal) => get<UsageReport>(`/usage?by=${by}`, signal), [by], 10000);
  const u = usage.data;
  const label = (g: UsageReport['groups'][number]) => {
    const name = g.name ?? (g.id ? g.id.slice(0, 8) : by === 'sweep' ? 'no sweep' : 'unknown');
    return by === 'sweep' && g.id ? <a href={href(`/sweeps/${g.id}`)}>{name}</a> : name;
  };

  return (
    <section>
      <header class="page-head">
        <h1>Usage</h1>
        <label>
          by{' '}
          <select value={by} onChange={(e) => navigate(href('/usage', { by: (e.target as HTMLSelectElement).value }))} data-testid="usage-by">
            {GROUPS.map((g) => <option key={g} value={g}>{g}</option>)}
          </select>
        </label>
      </header>
      <ErrorNote error={usage.error} />
      {u && u.groups.length === 0 && <p class="empty">No attempt has run in this project yet.</p>}
      {u && u.groups.length > 0 && (
        <table data-testid="usage">
          <thead>
            <tr><th>{by}</th><th>worker time</th><th>by backend</th><th>attempts</th><th>hand-overs</th><th>running</th><th>runs</th></tr>
          </thead>
          <tbody>
            {u.groups.map((g) => (
              <tr key={g.id ?? 'none'} data-group={g.id ?? 'none'}>
                <td>{label(g)}</td>
                <td class="num" data-seconds={g.workerSeconds}>{fmtDuration(g.workerSeconds * 1000)}</td>
                <td>{g.backends.map((b) => `${b.backend ?? 'unknown'} ${fmtDuration(b.workerSeconds * 1000)}`).join(' · ')}</td>
                <td class="num">{g.attempts}</td>
                <td class="num">{g.handOvers}</td>
                <td class="num">{g.running}</td>
                <td class="num">{g.runs}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr data-testid="usage-total">
              <th>total</th>
              <td class="num" data-seconds={u.total.workerSeconds}>{fmtDuration(u.total.workerSeconds * 1000)}</td>
              <td />
              <td class="num">{u.total.attempts}</td>
              <td class="num">{u.total.handOvers}</td>
              <td class="num">{u.total.running}</td>
              <td class="num">{u.total.runs}</td>
            </tr>
          </tfoot>
        </table>
      )}
    </section>
  );
}
