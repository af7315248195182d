import { useEffect, useRef, useState } from 'preact/hooks';
import { composeOverlay, sliceDice, type OverlayCounts, type OverlayOptions } from './overlay.ts';
import { sliceCount, tileUrl, type TileCache, type ViewAxis, type VolumeShape } from './tiles.ts';
import { fmtScore } from '../format.ts';

interface Props {
  volumeId: string;
  shape: VolumeShape;
  hasLabels: boolean;
  predictionId: string | null;
  axis: ViewAxis;
  index: number;
  options: OverlayOptions;
  cache: TileCache;
  /** Called after each slice is drawn. */
  onDrawn?: () => void;
}

const PREFETCH = 2;
const PREFETCH_DELAY_MS = 80;

/**
 * Draws one slice with its overlay on a canvas sized to the slice. Requests for slices the user has
 * already moved past are dropped when they land; the neighbours are fetched ahead.
 */
export function SliceViewer({ volumeId, shape, hasLabels, predictionId, axis, index, options, cache, onDrawn }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const latest = useRef(0);
  const [counts, setCounts] = useState<OverlayCounts | null>(null);
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    const ticket = ++latest.current;
    const urls = (i: number) => ({
      image: tileUrl(volumeId, axis, i, 'image'),
      label: hasLabels ? tileUrl(volumeId, axis, i, 'label') : null,
      prediction: predictionId ? tileUrl(volumeId, axis, i, 'prediction', predictionId) : null,
    });
    const u = urls(index);
    const draw = (image: Uint8Array, w: number, h: number, label: Uint8Array | null, pred: Uint8Array | null) => {
      const c = canvas.current;
      if (!c || ticket !== latest.current) return;
      if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
      }
      const ctx = c.getContext('2d')!;
      const img = ctx.createImageData(w, h);
      setCounts(composeOverlay(image, label, pred, img.data, options));
      ctx.putImageData(img, 0, 0);
      c.dataset.rendered = `${axis}:${index}`;
      setLoading(false);
      setError(undefined);
      onDrawn?.();
    };
    // Neighbours only once this slice is in, and only if the user stays on it a moment: fetched
    // earlier, or for every slice a dragged slider passes, they would compete with what is wanted.
    const prefetch = () =>
      setTimeout(() => {
        if (ticket !== latest.current) return;
        const n = sliceCount(shape, axis);
        for (let d = 1; d <= PREFETCH; d++)
          for (const i of [index + d, index - d]) {
            if (i < 0 || i >= n) continue;
            for (const url of Object.values(urls(i))) if (url) void cache.get(url).catch(() => {});
          }
      }, PREFETCH_DELAY_MS);
    // Everything cached: draw in this task, no flash of a stale slice.
    const hit = cache.peek(u.image);
    const hitL = u.label ? cache.peek(u.label) : null;
    const hitP = u.prediction ? cache.peek(u.prediction) : null;
    if (hit && (!u.label || hitL) && (!u.prediction || hitP)) {
      draw(hit.data, hit.width, hit.height, hitL?.data ?? null, hitP?.data ?? null);
      prefetch();
    } else {
      setLoading(true);
      Promise.all([cache.get(u.image), u.label ? cache.get(u.label) : null, u.prediction ? cache.get(u.prediction) : null]).then(
        ([img, lab, pred]) => {
          draw(img.data, img.width, img.height, lab?.data ?? null, pred?.data ?? null);
          prefetch();
        },
        (e: Error) => {
          if (ticket !== latest.current) return;
          setLoading(false);
          setError(e.message);
        },
      );
    }
  }, [volumeId, axis, index, predictionId, hasLabels, options.alpha, options.showImage, options.showTruth, options.showPrediction]);

  const dice = counts && predictionId && hasLabels ? sliceDice(counts) : null;
  return (
    <div class="slice-viewer">
      <div class="canvas-box">
        <canvas ref={canvas} data-testid="slice-canvas" class={loading ? 'loading' : ''} />
      </div>
      {error && <p class="error">{error}</p>}
      {counts && predictionId && hasLabels && (
        <p class="legend" data-testid="slice-counts">
          <span class="swatch tp" /> TP {counts.tp} <span class="swatch fp" /> FP {counts.fp} <span class="swatch fn" /> FN {counts.fn} · slice Dice {fmtScore(dice)}
        </p>
      )}
      {hasLabels && !predictionId && (
        <p class="legend">
          <span class="swatch truth" /> truth
        </p>
      )}
    </div>
  );
}
