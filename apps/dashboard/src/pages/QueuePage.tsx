import { useState } from 'preact/hooks';
import { get } from '../api.ts';
import { usePolled } from '../hooks.ts';
import { roleOf, useSession } from '../session.ts';
import { href } from '../router.ts';
import { fmtAgo, fmtDuration } from '../format.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { ExperimentForm, SweepForm } from '../forms/SubmitForms.tsx';
import type { DatasetSummary, Experiment, QueueState } from '../types.ts';

/** Megabytes as the queue shows them: whole above 10, two decimals for the tiny specs of tests and demos. */
const fmtMB = (mb: number) => (mb >= 10 ? Math.round(mb).toLocaleString('en-US') : mb.toFixed(2));

const COUNT_ORDER = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'];

interface Throughput {
  lastHour: number;
  last10min: number;
  meanMs: number | null;
}

/** Finished runs over the last hour, from the newest experiments (enough for a rate). */
async function throughput(signal: AbortSignal): Promise<Throughput> {
  const { items } = await get<{ items: Experiment[] }>('/experiments?status=succeeded&limit=500', signal);
  const now = Date.now();
  const finished = items.filter((e) => e.finishedAt).map((e) => ({ at: Date.parse(e.finishedAt!), ms: e.startedAt ? Date.parse(e.finishedAt!) - Date.parse(e.startedAt) : null }));
  const hour = finished.filter((f) => now - f.at < 3_600_000);
  const ms = hour.map((f) => f.ms).filter((m): m is number => m !== null);
  return {
    lastHour: hour.length,
    last10min: finished.filter((f) => now - f.at < 600_000).length,
    meanMs: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : null,
  };
}

export function QueuePage() {
  const queue = usePolled((signal) => get<QueueState>('/queue', signal), [], 2000);
  const rate = usePolled(throughput, [], 10000);
  const datasets = usePolled((signal) => get<{ items: DatasetSummary[] }>('/datasets', signal), []);
  const q = queue.data;
  const s = useSession();
  const role = roleOf(s);

  return (
    <section>
      <header class="page-head">
        <h1>Queue</h1>
      </header>
      <ErrorNote error={queue.error} />
      <div class="stats" data-testid="queue-counts">
        {q &&
          COUNT_ORDER.filter((k) => k in q.counts).map((k) => (
            <div class="stat" key={k} data-count={k}>
              <div class="stat-label">{k}</div>
              <div class="stat-value">{q.counts[k]}</div>
            </div>
          ))}
        {rate.data && (
          <div class="stat" data-testid="throughput">
            <div class="stat-label">finished, last hour</div>
            <div class="stat-value">
              {rate.data.lastHour} <span class="muted">({rate.data.last10min} in 10 min, mean {fmtDuration(rate.data.meanMs)})</span>
            </div>
          </div>
        )}
      </div>

      <h2>Workers online</h2>
      {q && q.workers.length === 0 && <p class="empty">No worker is online. Start one with <code>npx capillary worker</code> or <code>npm run demo</code>.</p>}
      {q && q.workers.length > 0 && (
        <table data-testid="workers">
          <thead>
            <tr><th>worker</th><th>backend</th><th>slots</th><th>memory (MB)</th><th>running</th><th>last seen</th></tr>
          </thead>
          <tbody>
            {q.workers.map((w) => (
              <tr key={w.id}>
                <td>{w.id}</td>
                <td>{w.backend}</td>
                <td class="num">{w.running.length} / {w.concurrency}</td>
                <td class="num">{w.memoryMB === undefined ? <span class="muted">n/a</span> : `${fmtMB(w.memoryInUseMB ?? 0)} / ${fmtMB(w.memoryMB)}`}</td>
                <td>
                  {w.running.length === 0 ? <span class="muted">idle</span> : w.running.map((id) => <a key={id} href={href(`/experiments/${id}`)}>{id.slice(0, 8)} </a>)}
                </td>
                <td>{fmtAgo(w.lastSeen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {q && q.unfittableTotal > 0 && (
        <>
          <h2>Fits no worker</h2>
          <p class="muted">
            {q.unfittableTotal} queued {q.unfittableTotal === 1 ? 'trial needs' : 'trials need'} more step memory than the largest worker online packs ({fmtMB(q.largestCapacityMB ?? 0)} MB,
            its <code>WORKER_MEMORY_MB</code>). {q.unfittableTotal === 1 ? 'It stays' : 'They stay'} queued until a worker that large joins.
          </p>
          <table data-testid="unfittable">
            <thead>
              <tr><th>trial</th><th>estimate (MB)</th><th>why</th></tr>
            </thead>
            <tbody>
              {q.unfittable.map((t) => (
                <tr key={t.id}>
                  <td><a href={href(`/experiments/${t.id}`)}>{t.name ?? t.id.slice(0, 8)}</a></td>
                  <td class="num">{fmtMB(t.estimatedMB)}</td>
                  <td>{t.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}

      <h2>Submit</h2>
      {role !== 'member' && role !== 'admin' ? (
        <p class="muted" data-testid="submit-not-allowed">
          {s.me ? `As a ${role ?? 'non-member'} of ${s.project ?? 'this project'}, you can see its runs but not queue new ones.` : 'Sign in to queue runs.'}
        </p>
      ) : (
        <Submit datasets={datasets} onCreated={queue.reload} />
      )}
    </section>
  );
}

function Submit({ datasets, onCreated }: { datasets: ReturnType<typeof usePolled<{ items: DatasetSummary[] }>>; onCreated(): void }) {
  const [tab, setTab] = useState<'experiment' | 'sweep'>('experiment');
  return (
    <>
      <div class="tabs" role="tablist">
        <button type="button" role="tab" aria-selected={tab === 'experiment'} onClick={() => setTab('experiment')}>
          one experiment
        </button>
        <button type="button" role="tab" aria-selected={tab === 'sweep'} onClick={() => setTab('sweep')} data-testid="sweep-tab">
          sweep grid
        </button>
      </div>
      {!datasets.data && !datasets.error && <p class="muted">Loading datasets…</p>}
      <ErrorNote error={datasets.error} />
      {datasets.data && datasets.data.items.length === 0 && <p class="empty">No dataset is registered yet: import one with <code>npx capillary dataset import</code>.</p>}
      {datasets.data &&
        (tab === 'experiment' ? (
          <ExperimentForm datasets={datasets.data.items} onCreated={onCreated} />
        ) : (
          <SweepForm datasets={datasets.data.items} onCreated={onCreated} />
        ))}
    </>
  );
}
