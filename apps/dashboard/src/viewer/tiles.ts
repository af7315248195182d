import { LRUCache } from 'lru-cache';
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
 * prefetch and a real request for the same slice cost one fetch (lru-cache's `fetch`). A failed
 * request is not kept; everyone waiting on it gets its error.
 */
export class TileCache {
  private readonly lru: LRUCache<string, Tile>;
  constructor(maxBytes = 96 * 1024 * 1024) {
    this.lru = new LRUCache<string, Tile>({
      maxSize: maxBytes,
      sizeCalculation: (t) => Math.max(1, t.data.byteLength),
      fetchMethod: (url) => fetchTile(url),
      // A tile evicted while it is on its way still answers the requests waiting for it.
      ignoreFetchAbort: true,
    });
  }

  /** The tile when it has arrived (and it becomes the most recently used), without fetching. */
  peek(url: string): Tile | undefined {
    return this.lru.get(url);
  }

  /** The tile, fetched unless it is cached or already on its way. */
  async get(url: string): Promise<Tile> {
    const t = await this.lru.fetch(url);
    if (!t) throw new Error(`tile ${url} gave no value`);
    return t;
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
