import { ApiError } from '../api.ts';

export type Layer = 'image' | 'label' | 'prediction';
export type ViewAxis = 'xy' | 'xz' | 'yz';

export interface Tile {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface VolumeShape {
  depth: number;
  height: number;
  width: number;
}

/** Slices along an axis: xy planes step through z, xz through y, yz through x. */
export function sliceCount(v: VolumeShape, axis: ViewAxis): number {
  return axis === 'xy' ? v.depth : axis === 'xz' ? v.height : v.width;
}

export function tileUrl(volumeId: string, axis: ViewAxis, index: number, layer: Layer, predictionId?: string): string {
  const q = new URLSearchParams({ layer });
  if (layer === 'prediction' && predictionId) q.set('predictionId', predictionId);
  return `/volumes/${encodeURIComponent(volumeId)}/slices/${axis}/${index}?${q}`;
}

/**
 * Tiles by URL, most recently used kept (bounded in bytes), with requests in flight shared: a
 * prefetch and a real request for the same slice cost one fetch.
 */
export class TileCache {
  private readonly done = new Map<string, Tile>();
  private readonly inflight = new Map<string, Promise<Tile>>();
  private bytes = 0;
  constructor(private readonly maxBytes = 96 * 1024 * 1024) {}

  peek(url: string): Tile | undefined {
    const t = this.done.get(url);
    if (t) {
      this.done.delete(url);
      this.done.set(url, t);
    }
    return t;
  }

  get(url: string): Promise<Tile> {
    const hit = this.peek(url);
    if (hit) return Promise.resolve(hit);
    let p = this.inflight.get(url);
    if (!p) {
      p = fetchTile(url).then(
        (t) => {
          this.inflight.delete(url);
          this.put(url, t);
          return t;
        },
        (e) => {
          this.inflight.delete(url);
          throw e;
        },
      );
      this.inflight.set(url, p);
    }
    return p;
  }

  private put(url: string, t: Tile) {
    this.done.set(url, t);
    this.bytes += t.data.byteLength;
    for (const [k, old] of this.done) {
      if (this.bytes <= this.maxBytes) break;
      this.done.delete(k);
      this.bytes -= old.data.byteLength;
    }
  }
}

async function fetchTile(url: string): Promise<Tile> {
  const res = await fetch(url);
  if (!res.ok) {
    let message = `${url} failed (${res.status})`;
    try {
      message = ((await res.json()) as { message?: string }).message ?? message;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, message);
  }
  const width = Number(res.headers.get('x-slice-width'));
  const height = Number(res.headers.get('x-slice-height'));
  const data = new Uint8Array(await res.arrayBuffer());
  if (data.length !== width * height) throw new Error(`tile ${url} has ${data.length} bytes for ${width} x ${height}`);
  return { width, height, data };
}
