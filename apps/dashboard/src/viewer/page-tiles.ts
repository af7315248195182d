import { TileCache, tileUrl, type ViewAxis } from './tiles.ts';

/** One cache for the page's lifetime: coming back to a volume shows its slices at once. */
export const tiles = new TileCache();

/**
 * A link that names a slice (volume, axis, index) gets its tiles requested as the app starts, while
 * the viewer's own code and the volume's description are still on their way.
 */
export function fetchNamedSlice(q: URLSearchParams): void {
  const volume = q.get('volume');
  const index = Number(q.get('index'));
  const axis = (q.get('axis') ?? 'xy') as ViewAxis;
  if (!volume || !q.has('index') || !Number.isInteger(index) || !['xy', 'xz', 'yz'].includes(axis)) return;
  const prediction = q.get('prediction');
  void tiles.get(tileUrl(volume, axis, index, 'image')).catch(() => {});
  void tiles.get(tileUrl(volume, axis, index, 'label')).catch(() => {});
  if (prediction && prediction !== 'none') void tiles.get(tileUrl(volume, axis, index, 'prediction', prediction)).catch(() => {});
}
