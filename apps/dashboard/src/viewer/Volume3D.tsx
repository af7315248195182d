import { useEffect, useRef, useState } from 'preact/hooks';
import type { Niivue } from '@niivue/niivue';

interface Props {
  volumeId: string;
  hasLabels: boolean;
  predictionId: string | null;
  /** Voxels the prediction marked as vessel: an empty mask is said, not shown as a black box. */
  predictedVoxels?: number | null;
  /** Longest side of the downsampled volumes the API sends. */
  size?: number;
}

interface Panel {
  key: 'truth' | 'prediction';
  title: string;
  url: string;
  colormap: string;
}

/**
 * The truth and the predicted vessel tree side by side, volume-rendered by NiiVue from small
 * max-pooled copies (never the whole volume). Dragging one view turns the other with it. NiiVue is
 * loaded only when this view is shown.
 */
export function Volume3D({ volumeId, hasLabels, predictionId, predictedVoxels, size = 128 }: Props) {
  const panels: Panel[] = [];
  const base = `/volumes/${encodeURIComponent(volumeId)}/volume3d?size=${size}`;
  if (hasLabels) panels.push({ key: 'truth', title: 'truth', url: `${base}&layer=label`, colormap: 'green' });
  if (predictionId) panels.push({ key: 'prediction', title: 'prediction', url: `${base}&layer=prediction&predictionId=${encodeURIComponent(predictionId)}`, colormap: 'red' });
  const canvases = useRef<(HTMLCanvasElement | null)[]>([]);
  const [state, setState] = useState<Record<string, string>>({});
  const key = panels.map((p) => p.url).join('|');

  useEffect(() => {
    let cancelled = false;
    const views: Niivue[] = [];
    void (async () => {
      const { Niivue, NVImage } = await import('@niivue/niivue');
      await Promise.all(
        panels.map(async (p, i) => {
          const canvas = canvases.current[i];
          if (!canvas) return;
          setState((s) => ({ ...s, [p.key]: 'loading' }));
          try {
            const nv = new Niivue({ backColor: [0.08, 0.08, 0.1, 1], show3Dcrosshair: false, isOrientCube: false, loadingText: '', dragAndDropEnabled: false });
            views[i] = nv;
            await nv.attachToCanvas(canvas);
            const res = await fetch(p.url);
            if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { message?: string }).message ?? `HTTP ${res.status}`);
            const buffer = await res.arrayBuffer();
            if (cancelled) return;
            // From our own bytes: loadVolumes() would fetch the URL again and drops `buffer`.
            const image = await NVImage.loadFromUrl({ url: `${p.key}.nii`, name: `${p.key}.nii`, buffer, colormap: p.colormap, cal_min: 0, cal_max: 1, opacity: 1 });
            if (cancelled) return;
            nv.addVolume(image);
            nv.setSliceType(nv.sliceTypeRender);
            nv.setRenderAzimuthElevation(120, 15);
            if (!cancelled) setState((s) => ({ ...s, [p.key]: 'ready' }));
          } catch (e) {
            if (!cancelled) setState((s) => ({ ...s, [p.key]: `error: ${(e as Error).message}` }));
          }
        }),
      );
      const live = views.filter(Boolean);
      if (live.length === 2 && !cancelled) {
        live[0].broadcastTo(live[1], { '2d': false, '3d': true });
        live[1].broadcastTo(live[0], { '2d': false, '3d': true });
      }
    })();
    return () => {
      cancelled = true;
      // Free the GPU contexts (the canvases are replaced too): switching volumes back and forth
      // must not pile them up.
      for (const nv of views) (nv?.gl?.getExtension('WEBGL_lose_context') as { loseContext(): void } | null)?.loseContext();
    };
  }, [key]);

  if (!panels.length) return <p class="muted">Nothing to show in 3D: this volume has no labels and no prediction.</p>;
  return (
    <div class="volume3d">
      {panels.map((p, i) => (
        <figure key={`${key}#${p.key}`} data-testid={`view3d-${p.key}`} data-state={state[p.key] ?? 'loading'}>
          <canvas ref={(el) => {
            canvases.current[i] = el;
          }} width={360} height={300} />
          <figcaption>
            {p.title}
            {p.key === 'prediction' && predictedVoxels === 0 && <span class="muted"> (empty: the model marked no voxel as vessel)</span>}
            {state[p.key]?.startsWith('error') && <span class="error"> {state[p.key]}</span>}
          </figcaption>
        </figure>
      ))}
    </div>
  );
}
