import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, get } from '../api.ts';
import { usePolled } from '../hooks.ts';
import { useAllowed } from '../session.ts';
import { href } from '../router.ts';
import { fmtScore } from '../format.ts';
import { LineChart } from '../components/LineChart.tsx';
import { ScatterChart } from '../components/ScatterChart.tsx';
import { ParallelCoordinates } from '../components/ParallelCoordinates.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { LineageChart } from '../components/LineageChart.tsx';
import { axisValue, defaultSelection, lineageGraph, paramAxes, rungRows, trialLabel } from '../sweep/sweep-model.ts';
import { TERMINAL, type SweepDetail } from '../types.ts';

const COLORS = ['#2c7fb8', '#e6550d', '#31a354', '#756bb1', '#d6616b', '#8c6d31', '#17becf', '#636363'];

/**
 * One sweep: parameters against score (parallel coordinates, and score against each parameter),
 * ASHA's rungs with who went on, PBT's lineage, the trials with their parameters, and the curves of the selected
 * trials overlaid. Re-run and extend act on the whole sweep.
 */
export function SweepPage({ id }: { id: string }) {
  const sweep = usePolled((signal) => get<SweepDetail>(`/sweeps/${encodeURIComponent(id)}`, signal), [id], (d) => (d && d.trials.every((t) => TERMINAL.includes(t.status)) ? 10_000 : 2_000));
  const s = sweep.data;
  const may = useAllowed();
  const [selected, setSelected] = useState<string[] | null>(null);
  const [actionError, setActionError] = useState<Error>();
  const [more, setMore] = useState(4);
  useEffect(() => {
    if (s && selected === null) setSelected(defaultSelection(s.trials));
  }, [s]);

  const axes = useMemo(() => (s ? paramAxes(s) : []), [s]);
  const lines = useMemo(
    () => (s ? s.trials.map((t) => ({ id: t.id, values: [...axes.map((a) => (a.categories ? String(t.params[a.name] ?? '') : axisValue(a, t))), t.score] })) : []),
    [s, axes],
  );
  const chosen = useMemo(() => (s && selected ? s.trials.filter((t) => selected.includes(t.id)) : []), [s, selected]);
  const maxEpoch = Math.max(0, ...chosen.map((t) => t.curve.length ? t.curve[t.curve.length - 1].epoch : 0));
  const x = useMemo(() => Array.from({ length: maxEpoch }, (_, i) => i + 1), [maxEpoch]);
  const curves = useMemo(
    () => chosen.map((t, i) => ({ label: trialLabel(t), color: COLORS[i % COLORS.length], values: x.map((e) => t.curve.find((c) => c.epoch === e)?.surfaceDice ?? null) })),
    [chosen, x],
  );
  const toggle = (tid: string) => setSelected((cur) => ((cur ?? []).includes(tid) ? (cur ?? []).filter((c) => c !== tid) : [...(cur ?? []), tid]));
  const act = async (fn: () => Promise<unknown>) => {
    setActionError(undefined);
    try {
      await fn();
      sweep.reload();
    } catch (e) {
      setActionError(e as Error);
    }
  };

  if (!s) return <>{sweep.error ? <ErrorNote error={sweep.error} /> : <p class="muted">Loading…</p>}</>;
  const counts = Object.entries(s.trials.reduce<Record<string, number>>((c, t) => ({ ...c, [t.status]: (c[t.status] ?? 0) + 1 }), {}));
  const byId = new Map(s.trials.map((t) => [t.id, t]));
  const canRerun = s.trials.some((t) => t.status === 'failed' || t.status === 'cancelled');
  const canExtend = s.strategy !== 'grid' && s.strategy !== 'tpe' && s.strategy !== 'pbt' && s.params.length > 0;
  const scored = s.trials.filter((t) => t.score !== null);
  const lineage = s.pbt ? lineageGraph(s) : null;

  return (
    <section class="sweep-page" data-sweep={s.id}>
      <h1>
        {s.name} <span class="badge" data-testid="strategy">{s.strategy}</span>
      </h1>
      <p class="muted" data-testid="sweep-counts">
        {s.trials.length} trials · {counts.map(([k, n]) => `${n} ${k}`).join(' · ')}
        {s.asha && ` · ASHA: rungs from ${s.asha.minEpochs} to ${s.asha.maxEpochs} epochs, top 1/${s.asha.reductionFactor} go on`}
        {s.maxConcurrent !== null && ` · at most ${s.maxConcurrent} at once, the others held`}
        {s.pbt && ` · PBT: population ${s.pbt.population}, every ${s.pbt.perturbationInterval} epochs the bottom ${(s.pbt.quantile ?? 0.25) * 100}% copy the top`}
      </p>
      {may.act && <div class="actions">
        <button type="button" disabled={!canRerun} onClick={() => act(() => api('POST', `/sweeps/${s.id}/rerun`))} data-testid="rerun">
          re-run failed and cancelled
        </button>
        {canExtend && (
          <span>
            <input type="number" min={1} max={500} value={more} onInput={(e) => setMore(Number((e.target as HTMLInputElement).value))} aria-label="trials to add" />{' '}
            <button type="button" onClick={() => act(() => api('POST', `/sweeps/${s.id}/extend`, { body: { trials: more } }))} data-testid="extend">
              add trials
            </button>
          </span>
        )}
      </div>}
      <ErrorNote error={actionError} />

      <h2>Parameters against score</h2>
      {s.params.length === 0 ? <p class="muted">This sweep varies no parameter.</p> : <ParallelCoordinates axes={[...axes, { name: 'surface Dice' }]} lines={lines} onPick={toggle} />}
      <div class="sweep-charts">
        {axes.map((a) => (
          <ScatterChart
            key={a.name}
            title={`score vs ${a.name}`}
            xLabel={a.name}
            categories={a.categories}
            log={a.log}
            points={scored.map((t) => ({ x: axisValue(a, t) ?? 0, y: t.score! }))}
          />
        ))}
      </div>

      {s.asha && (
        <>
          <h2>ASHA rungs</h2>
          <table class="rungs" data-testid="rungs">
            <thead>
              <tr><th>rung</th><th>epoch</th><th>finished</th><th>went on</th><th>stopped here</th></tr>
            </thead>
            <tbody>
              {rungRows(s).map((r) => (
                <tr key={r.rung} data-rung={r.rung}>
                  <td>{r.rung}</td>
                  <td>{r.epoch}</td>
                  <td data-col="finished">{r.finished}</td>
                  <td class="promoted" data-col="promoted">
                    {r.promoted.map((pid) => (
                      <a key={pid} href={href(`/experiments/${pid}`)} data-trial={pid}>{trialLabel(byId.get(pid)!)} </a>
                    ))}
                  </td>
                  <td data-col="stopped">{r.stopped.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}

      {lineage && (
        <>
          <h2>Lineage</h2>
          {lineage.arrows.length === 0 ? <p class="muted">No member has copied another yet.</p> : (
            <>
              <LineageChart graph={lineage} />
              <table class="lineage-table" data-testid="lineage-table">
                <thead>
                  <tr><th>epoch</th><th>member</th><th>copied</th><th>changed</th></tr>
                </thead>
                <tbody>
                  {lineage.arrows.map((a) => (
                    <tr key={`${a.to}-${a.epoch}`}>
                      <td>{a.epoch}</td>
                      <td><a href={href(`/experiments/${a.to}`)}>{trialLabel(byId.get(a.to)!)}</a></td>
                      <td><a href={href(`/experiments/${a.from}`)}>{trialLabel(byId.get(a.from)!)}</a> at epoch {a.fromEpoch}</td>
                      <td>{a.change}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </>
      )}

      <h2>Curves of the selected trials</h2>
      {chosen.length === 0 ? <p class="muted">Select trials below to compare their curves.</p> : <LineChart title="surface Dice of selected trials" x={x} series={curves} yRange={[0, 1]} />}

      <h2>Trials</h2>
      <table class="trials" data-testid="trials">
        <thead>
          <tr>
            <th>compare</th><th>trial</th><th>status</th>{s.asha && <th>rung</th>}
            {s.params.map((p) => <th key={p}>{p}</th>)}
            <th>score</th>
          </tr>
        </thead>
        <tbody>
          {s.trials.map((t) => (
            <tr key={t.id} data-trial={t.id}>
              <td><input type="checkbox" checked={(selected ?? []).includes(t.id)} onChange={() => toggle(t.id)} aria-label={`compare ${trialLabel(t)}`} /></td>
              <td><a href={href(`/experiments/${t.id}`)}>{trialLabel(t)}</a></td>
              <td><StatusBadge status={t.status} /></td>
              {s.asha && <td data-col="rung">{t.rung ?? ''}</td>}
              {s.params.map((p) => <td key={p} data-col={p}>{String(t.params[p] ?? '')}</td>)}
              <td data-col="score">{fmtScore(t.score)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
