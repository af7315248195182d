import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, get } from '../api.ts';
import { usePolled } from '../hooks.ts';
import { useAllowed } from '../session.ts';
import { useExperimentEvents } from '../experiment-events.ts';
import { href, navigate } from '../router.ts';
import { fmtBytes, fmtDuration, fmtLr, fmtScore, fmtTime } from '../format.ts';
import { LineChart } from '../components/LineChart.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { TERMINAL, type Experiment, type ExperimentDetail } from '../types.ts';

export function ExperimentPage({ id }: { id: string }) {
  const live = useExperimentEvents(id);
  const may = useAllowed();
  const detail = usePolled((signal) => get<ExperimentDetail>(`/experiments/${encodeURIComponent(id)}`, signal), [id]);
  const [actionError, setActionError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  // A status change brings new attempts and checkpoints; an epoch brings a checkpoint.
  const { reload } = detail;
  useEffect(() => {
    if (live.statusChanges > 0 || live.epochs.length > (detail.data?.checkpoints.length ?? 0)) reload();
  }, [live.statusChanges, live.epochs.length]);

  const e = detail.data;
  const status = live.status ?? e?.status;
  const epochs = live.epochs.length ? live.epochs : (e?.epochMetrics ?? []);
  const x = useMemo(() => epochs.map((m) => m.epoch), [epochs]);
  const lossSeries = useMemo(
    () => [
      { label: 'train loss', color: '#2c7fb8', values: epochs.map((m) => m.trainLoss) },
      { label: 'val loss', color: '#e6550d', values: epochs.map((m) => m.valLoss) },
    ],
    [epochs],
  );
  const diceSeries = useMemo(
    () => [
      { label: 'Dice', color: '#31a354', values: epochs.map((m) => m.dice) },
      { label: 'surface Dice', color: '#756bb1', values: epochs.map((m) => m.surfaceDice) },
    ],
    [epochs],
  );

  const act = async (fn: () => Promise<void>) => {
    setActionError(undefined);
    setBusy(true);
    try {
      await fn();
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const cancel = () =>
    act(async () => {
      await api('DELETE', `/experiments/${id}`);
      reload();
    });
  const rerun = () =>
    act(async () => {
      const created = await api<Experiment>('POST', '/experiments', { body: e!.spec });
      navigate(href(`/experiments/${created.id}`));
    });

  if (detail.error && !e) return <ErrorNote error={detail.error} />;
  if (!e) return <p class="muted">Loading…</p>;
  const running = status === 'running';
  const p = live.progress;

  return (
    <section>
      <header class="page-head">
        <h1>
          {e.name ?? 'Experiment'} <StatusBadge status={status ?? e.status} />
        </h1>
        <p class="muted">
          <code>{e.id}</code>
          {e.sweepId && <> · in a sweep</>} · created {fmtTime(e.createdAt)}
          {e.startedAt && <> · started {fmtTime(e.startedAt)}</>}
          {e.finishedAt && <> · finished {fmtTime(e.finishedAt)}</>}
          {' · '}
          <span data-testid="live">{live.connected ? 'live' : 'connecting…'}</span>
        </p>
        <div class="actions">
          {/* Offered by role; a member's cancel of someone else's run is refused by the API (own runs only). */}
          {may.act && (
            <button type="button" onClick={cancel} disabled={busy || TERMINAL.includes(status ?? e.status)} data-testid="cancel">
              cancel
            </button>
          )}
          {may.create && (
            <button type="button" onClick={rerun} disabled={busy} data-testid="rerun">
              re-run
            </button>
          )}
          <a class="button" href={href('/predictions', { experiment: e.id })}>
            predictions
          </a>
        </div>
        <ErrorNote error={actionError} />
        {(e.errorMessage || live.lastError) && status !== 'succeeded' && <p class="error">{live.lastError ?? e.errorMessage}</p>}
      </header>

      <div class="stats">
        <Stat label="best surface Dice" value={fmtScore(live.score ?? e.score)} testid="score" />
        <Stat label="best epoch" value={e.bestEpoch === null ? '—' : String(e.bestEpoch)} />
        <Stat label="epochs done" value={`${epochs.length} / ${e.epochs}`} testid="epochs-done" />
        <Stat label="backend" value={e.backend ?? '—'} />
        <Stat label="attempts" value={String(e.attempts)} />
        {running && p && <Stat label="now" value={`epoch ${p.epoch}, step ${p.step}/${p.steps}, loss ${p.loss.toFixed(4)}`} testid="progress" />}
      </div>
      {running && p && <progress max={e.epochs * p.steps} value={(p.epoch - 1) * p.steps + p.step} />}

      <div class="charts">
        <LineChart title="Loss" x={x} series={lossSeries} />
        <LineChart title="Dice" x={x} series={diceSeries} yRange={[0, 1]} />
      </div>
      {epochs.length === 0 && <p class="muted">No epoch finished yet; curves appear as epochs complete.</p>}

      <div class="columns">
        <div>
          <h2>Spec</h2>
          <SpecTable spec={e.spec as unknown as Record<string, unknown>} />
        </div>
        <div>
          <h2>Attempts</h2>
          {e.attemptLog.length === 0 ? (
            <p class="muted">Not picked up by a worker yet.</p>
          ) : (
            <table data-testid="attempts">
              <thead>
                <tr><th>#</th><th>worker</th><th>backend</th><th>resumed from epoch</th><th>started</th><th>ended</th><th>outcome</th></tr>
              </thead>
              <tbody>
                {e.attemptLog.map((a) => (
                  <tr key={a.number}>
                    <td>{a.number}</td><td>{a.workerId}</td><td>{a.backend ?? '—'}</td><td class="num">{a.resumedFromEpoch}</td>
                    <td>{fmtTime(a.startedAt)}</td><td>{fmtTime(a.endedAt)}</td><td>{a.outcome ?? (running ? 'running' : '—')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>Checkpoints</h2>
          {e.checkpoints.length === 0 ? (
            <p class="muted">None yet.</p>
          ) : (
            <table data-testid="checkpoints">
              <thead>
                <tr><th>epoch</th><th>size</th><th>sha256</th><th></th></tr>
              </thead>
              <tbody>
                {e.checkpoints.map((c) => (
                  <tr key={c.epoch}>
                    <td class="num">{c.epoch}</td><td class="num">{fmtBytes(c.bytes)}</td><td><code>{c.sha256.slice(0, 12)}</code></td><td>{c.isBest ? 'best' : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>Epochs</h2>
          <table data-testid="epochs">
            <thead>
              <tr><th>epoch</th><th>train loss</th><th>val loss</th><th>Dice</th><th>surface Dice</th><th>lr</th><th>time</th></tr>
            </thead>
            <tbody>
              {epochs.map((m) => (
                <tr key={m.epoch}>
                  <td class="num">{m.epoch}</td><td class="num">{m.trainLoss.toFixed(4)}</td><td class="num">{m.valLoss === null ? '—' : m.valLoss.toFixed(4)}</td>
                  <td class="num">{fmtScore(m.dice)}</td><td class="num">{fmtScore(m.surfaceDice)}</td><td class="num">{fmtLr(m.learningRate)}</td><td class="num">{fmtDuration(m.durationMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}

function Stat({ label, value, testid }: { label: string; value: string; testid?: string }) {
  return (
    <div class="stat" data-testid={testid}>
      <div class="stat-label">{label}</div>
      <div class="stat-value">{value}</div>
    </div>
  );
}

function SpecTable({ spec }: { spec: Record<string, unknown> }) {
  return (
    <table class="spec" data-testid="spec">
      <tbody>
        {Object.entries(spec).map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{typeof v === 'string' ? v : JSON.stringify(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
