import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, get } from '../api.ts';
import { usePolled } from '../hooks.ts';
import { useAllowed } from '../session.ts';
import { href, navigate, type Location } from '../router.ts';
import { fmtScore } from '../format.ts';
import { ErrorNote } from '../components/ErrorNote.tsx';
import { StatusBadge } from '../components/StatusBadge.tsx';
import { SliceViewer } from '../viewer/SliceViewer.tsx';
import { Volume3D } from '../viewer/Volume3D.tsx';
import { sliceCount, type ViewAxis } from '../viewer/tiles.ts';
import { tiles } from '../viewer/page-tiles.ts';
import type { OverlayOptions } from '../viewer/overlay.ts';
import type { DatasetSummary, ExperimentDetail, VolumeDetail, VolumeSummary } from '../types.ts';

const AXES: ViewAxis[] = ['xy', 'xz', 'yz'];

/** The volume to open when the link names none: a labelled validation volume of the experiment's dataset. */
function defaultVolume(datasets: DatasetSummary[], datasetName: string | undefined): VolumeSummary | undefined {
  const pool = datasets.filter((d) => !datasetName || d.name === datasetName).flatMap((d) => d.volumes);
  return pool.find((v) => v.role === 'validation' && v.hasLabels) ?? pool.find((v) => v.hasLabels) ?? pool[0];
}

export function PredictionsPage({ loc }: { loc: Location }) {
  const may = useAllowed();
  const experimentId = loc.query.get('experiment');
  const datasets = usePolled((s) => get<{ items: DatasetSummary[] }>('/datasets', s), []);
  const experiment = usePolled((s) => (experimentId ? get<ExperimentDetail>(`/experiments/${encodeURIComponent(experimentId)}`, s) : Promise.resolve(null)), [experimentId]);
  const volumeId = loc.query.get('volume') ?? (datasets.data && experiment.data !== undefined ? defaultVolume(datasets.data.items, experiment.data?.spec.dataset)?.id : undefined);
  const detail = usePolled(
    (s) => (volumeId ? get<VolumeDetail>(`/volumes/${encodeURIComponent(volumeId)}`, s) : Promise.resolve(null)),
    [volumeId],
    (d) => (d?.predictions.some((p) => p.status === 'queued' || p.status === 'running') ? 3000 : 0),
  );
  const [predictError, setPredictError] = useState<Error>();

  const v = detail.data?.volume;
  const finished = detail.data?.predictions.filter((p) => p.status === 'succeeded') ?? [];
  // On its way for this experiment (or for any, when the page shows no experiment in particular).
  const pending = detail.data?.predictions.filter((p) => (p.status === 'queued' || p.status === 'running') && (!experimentId || p.experimentId === experimentId)) ?? [];
  const queryPrediction = loc.query.get('prediction');
  const predictionId =
    queryPrediction === 'none' ? null : (queryPrediction ?? (finished.find((p) => !experimentId || p.experimentId === experimentId) ?? (experimentId ? undefined : finished[0]))?.id ?? null);
  const prediction = finished.find((p) => p.id === predictionId);

  const [axis, setAxis] = useState<ViewAxis>((loc.query.get('axis') as ViewAxis) ?? 'xy');
  const [index, setIndex] = useState<number | null>(loc.query.has('index') ? Number(loc.query.get('index')) : null);
  const [options, setOptions] = useState<OverlayOptions>({ alpha: 0.55, showImage: true, showTruth: true, showPrediction: true });
  const [show3d, setShow3d] = useState(true);
  // The 3D view (NiiVue, a large script) waits for the first slice, which matters more.
  const [sliceShown, setSliceShown] = useState(false);
  const n = v ? sliceCount(v, axis) : 0;
  const at = v ? Math.min(n - 1, Math.max(0, index ?? Math.floor(n / 2))) : 0;

  // The URL follows the view (replace, not push: moving through slices is not navigation).
  useEffect(() => {
    if (!v) return;
    const q = new URLSearchParams(location.search);
    q.set('volume', v.id);
    q.set('axis', axis);
    q.set('index', String(at));
    if (predictionId) q.set('prediction', predictionId);
    history.replaceState(null, '', `${location.pathname}?${q}`);
  }, [v?.id, axis, at, predictionId]);

  const choose = (params: Record<string, string | null>) => {
    const q = Object.fromEntries(loc.query.entries());
    navigate(href('/predictions', { ...q, index: null, ...params }));
    if ('volume' in params) setIndex(null);
  };
  const requestPrediction = async () => {
    setPredictError(undefined);
    try {
      await api('POST', `/experiments/${experimentId}/predictions`, { body: { dataset: v!.datasetName } });
      detail.reload();
    } catch (e) {
      setPredictError(e as Error);
    }
  };
  const cancelPrediction = async (id: string) => {
    setPredictError(undefined);
    try {
      await api('DELETE', `/predictions/${id}`);
      detail.reload();
    } catch (e) {
      setPredictError(e as Error);
    }
  };
  const volumes = useMemo(() => datasets.data?.items ?? [], [datasets.data]);

  return (
    <section>
      <header class="page-head">
        <h1>Predictions</h1>
        {experiment.data && (
          <p class="muted">
            experiment <a href={href(`/experiments/${experiment.data.id}`)}>{experiment.data.name ?? experiment.data.id}</a> (dataset {experiment.data.spec.dataset})
          </p>
        )}
      </header>
      <ErrorNote error={datasets.error ?? experiment.error ?? detail.error} />
      <div class="toolbar">
        <label>
          volume{' '}
          <select value={volumeId ?? ''} onChange={(e) => choose({ volume: (e.target as HTMLSelectElement).value, prediction: null })} data-testid="volume-select">
            {!volumeId && <option value="">(choose)</option>}
            {volumes.map((d) => (
              <optgroup key={d.id} label={d.name}>
                {d.volumes.map((vol) => (
                  <option key={vol.id} value={vol.id}>
                    {vol.name} ({vol.role}, {vol.depth}×{vol.height}×{vol.width})
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </label>
        <label>
          prediction{' '}
          <select value={predictionId ?? 'none'} onChange={(e) => choose({ prediction: (e.target as HTMLSelectElement).value })} data-testid="prediction-select">
            <option value="none">(none: image and truth)</option>
            {finished.map((p) => (
              <option key={p.id} value={p.id}>
                {p.experimentName ?? p.experimentId.slice(0, 8)} · sDice {fmtScore(p.surfaceDice)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {datasets.data && !volumeId && <p class="empty">No volume is registered yet.</p>}
      {v && !prediction && (
        <p class="note" data-testid="no-prediction">
          {pending.length > 0 ? (
            <>
              A prediction is on its way (<StatusBadge status={pending[0].status} />
              {pending[0].shards ? <span data-testid="shard-progress">, shards {pending[0].shards.committed}/{pending[0].shards.planned}</span> : null}
              ); showing the image and the truth meanwhile.{' '}
              {may.act && <button type="button" data-testid="cancel-prediction" onClick={() => cancelPrediction(pending[0].id)}>
                cancel it
              </button>}
            </>
          ) : (
            <>There is no prediction for this volume yet: showing the image{v.hasLabels ? ' and the truth' : ''}.</>
          )}{' '}
          {may.create && experimentId && pending.length === 0 && experiment.data?.checkpoints.length ? (
            <button type="button" onClick={requestPrediction}>
              predict {v.datasetName} with this experiment
            </button>
          ) : null}
        </p>
      )}
      <ErrorNote error={predictError} />
      {prediction && (
        <p class="muted" data-testid="prediction-scores">
          whole volume: surface Dice {fmtScore(prediction.surfaceDice)} · Dice {fmtScore(prediction.dice)}
        </p>
      )}
      {v && (
        <div class="viewer">
          <div class="viewer-controls">
            <div class="axis-choice" role="radiogroup" aria-label="axis">
              {AXES.map((a) => (
                <label key={a}>
                  <input type="radio" name="axis" value={a} checked={axis === a} onChange={() => (setAxis(a), setIndex(null))} /> {a}
                </label>
              ))}
            </div>
            <div class="slider">
              <button type="button" onClick={() => setIndex(Math.max(0, at - 1))} disabled={at <= 0} aria-label="previous slice">
                ◀
              </button>
              <input type="range" min={0} max={n - 1} value={at} onInput={(e) => setIndex(Number((e.target as HTMLInputElement).value))} aria-label="slice" data-testid="slice-slider" />
              <button type="button" onClick={() => setIndex(Math.min(n - 1, at + 1))} disabled={at >= n - 1} aria-label="next slice">
                ▶
              </button>
              <span data-testid="slice-label">
                slice {at + 1} / {n}
              </span>
            </div>
            <div class="layers">
              {(['showImage', 'showTruth', 'showPrediction'] as const).map((k) => (
                <label key={k}>
                  <input type="checkbox" checked={options[k]} onChange={(e) => setOptions((o) => ({ ...o, [k]: (e.target as HTMLInputElement).checked }))} /> {k.slice(4).toLowerCase()}
                </label>
              ))}
              <label>
                opacity <input type="range" min={0} max={1} step={0.05} value={options.alpha} onInput={(e) => setOptions((o) => ({ ...o, alpha: Number((e.target as HTMLInputElement).value) }))} />
              </label>
              <label>
                <input type="checkbox" checked={show3d} onChange={(e) => setShow3d((e.target as HTMLInputElement).checked)} /> 3D view
              </label>
            </div>
          </div>
          <SliceViewer volumeId={v.id} shape={v} hasLabels={v.hasLabels} predictionId={prediction ? prediction.id : null} axis={axis} index={at} options={options} cache={tiles} onDrawn={sliceShown ? undefined : () => setSliceShown(true)} />
          {show3d && sliceShown && <Volume3D volumeId={v.id} hasLabels={v.hasLabels} predictionId={prediction ? prediction.id : null} predictedVoxels={prediction?.foregroundVoxels} />}
        </div>
      )}
    </section>
  );
}
