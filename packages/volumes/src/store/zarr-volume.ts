import * as zarr from 'zarrita';
import pLimit, { type LimitFunction } from 'p-limit';
import { bucketName, foregroundKey, getObject } from '@capillary/storage';
import { checkBox } from '../box.ts';
import { ComputedCache } from './computed-cache.ts';
import { chunkCacheFromEnv, type ChunkCache } from './chunk-cache.ts';
import { S3ZarrStore } from './zarr-array.ts';
import { axisLength, windowShape, type Axis, type Box, type ForegroundIndex, type VolumeDtype, type VolumeReader, type VolumeStats } from '../types.ts';

type Voxels = Uint8Array | Uint16Array;

/**
 * Chunk fetches (disk cache or S3, then decode) in flight at once per process unless a reader is
 * given its own limiter: a yz slice of a kidney touches ~3,000 chunks, which must not become 3,000
 * simultaneous GETs.
 */
export const DEFAULT_FETCH_CONCURRENCY = 64;
let processFetchLimit: LimitFunction | undefined;
const defaultFetchLimit = () => (processFetchLimit ??= pLimit(DEFAULT_FETCH_CONCURRENCY));

/**
 * Reads boxes out of one chunked Zarr array in S3, fetching each chunk at most once at a time and
 * at most `limit` chunks at once.
 * Chunk bytes go through the disk cache either as stored (well-compressed arrays such as labels)
 * or decoded (images, where zstd saves little and decoding would dominate a warm epoch).
 */
class ChunkedArray {
  private arr?: Promise<zarr.Array<'uint8' | 'uint16', S3ZarrStore>>;
  private cacheDecoded = false;

  constructor(
    readonly prefix: string,
    private readonly memory: ComputedCache<Voxels>,
    private readonly disk: ChunkCache | null,
    private readonly limit: LimitFunction,
  ) {}

  private open() {
    this.arr ??= (async () => {
      // Metadata first without the cache, to learn how well the chunks compress.
      const meta = await zarr.open(new S3ZarrStore(this.prefix), { kind: 'array' });
      const ratio = (meta.attrs as { capillary?: { compressionRatio?: number } }).capillary?.compressionRatio ?? 1;
      this.cacheDecoded = ratio < 2;
      const store = new S3ZarrStore(this.prefix, this.cacheDecoded ? undefined : (this.disk ?? undefined));
      return (await zarr.open(store, { kind: 'array' })) as zarr.Array<'uint8' | 'uint16', S3ZarrStore>;
    })();
    return this.arr;
  }

  private chunk(arr: zarr.Array<'uint8' | 'uint16', S3ZarrStore>, c: [number, number, number]): Promise<Voxels> {
    const key = `${this.prefix}/c/${c.join('/')}`;
    // Hits and waiters on a chunk already in flight take no slot of the limiter.
    return this.memory.get(key, () => this.limit(() => this.load(arr, key, c)));
  }

  private async load(arr: zarr.Array<'uint8' | 'uint16', S3ZarrStore>, key: string, c: [number, number, number]): Promise<Voxels> {
    const diskKey = `${bucketName()}/${key}#decoded`;
    const Typed = arr.dtype === 'uint8' ? Uint8Array : Uint16Array;
    if (this.cacheDecoded && this.disk) {
      const raw = await this.disk.get(diskKey);
      if (raw && raw.byteLength === arr.chunks.reduce((a, b) => a * b, 1) * Typed.BYTES_PER_ELEMENT) {
        const aligned = raw.byteOffset % Typed.BYTES_PER_ELEMENT === 0 ? raw : raw.slice();
        return new Typed(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / Typed.BYTES_PER_ELEMENT);
      }
    }
    const data = (await arr.getChunk(c)).data as Voxels;
    if (this.cacheDecoded && this.disk) await this.disk.put(diskKey, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return data;
  }

  /** Voxels of a box, C order [z, y, x]; touches only the chunks that intersect it. */
  async readBox(b: Box): Promise<Voxels> {
    const arr = await this.open();
    const [CZ, CY, CX] = arr.chunks;
    const dy = b.y1 - b.y0;
    const dx = b.x1 - b.x0;
    const out = arr.dtype === 'uint8' ? new Uint8Array((b.z1 - b.z0) * dy * dx) : new Uint16Array((b.z1 - b.z0) * dy * dx);
    const coords: [number, number, number][] = [];
    for (let cz = Math.floor(b.z0 / CZ); cz * CZ < b.z1; cz++)
      for (let cy = Math.floor(b.y0 / CY); cy * CY < b.y1; cy++)
        for (let cx = Math.floor(b.x0 / CX); cx * CX < b.x1; cx++) coords.push([cz, cy, cx]);
    // Each chunk is copied out as it arrives, so a box over thousands of chunks never holds them
    // all at once (beyond what the memory cache keeps).
    await Promise.all(coords.map(async ([cz, cy, cx]) => {
      const data = await this.chunk(arr, [cz, cy, cx]);
      const z0 = Math.max(b.z0, cz * CZ), z1 = Math.min(b.z1, (cz + 1) * CZ);
      const y0 = Math.max(b.y0, cy * CY), y1 = Math.min(b.y1, (cy + 1) * CY);
      const x0 = Math.max(b.x0, cx * CX), x1 = Math.min(b.x1, (cx + 1) * CX);
      for (let z = z0; z < z1; z++) {
        for (let y = y0; y < y1; y++) {
          const src = ((z - cz * CZ) * CY + (y - cy * CY)) * CX + (x0 - cx * CX);
          const dst = ((z - b.z0) * dy + (y - b.y0)) * dx + (x0 - b.x0);
          out.set(data.subarray(src, src + (x1 - x0)), dst);
        }
      }
    }));
    return out;
  }
}

/** Where a registered volume's arrays are and what they hold (the columns of a Volume row). */
export interface ZarrVolumeSource {
  id: string;
  imageKey: string;
  labelKey?: string | null;
  maskKey?: string | null;
  dtype: VolumeDtype | string;
  depth: number;
  height: number;
  width: number;
  stats: VolumeStats | unknown;
}

export interface ZarrVolumeOptions {
  /** Disk cache of chunks; default from CHUNK_CACHE_DIR / CHUNK_CACHE_MAX_MB; null for none. */
  cache?: ChunkCache | null;
  /**
   * Decoded chunks kept in memory for this volume. Default: enough for one 32-slice row of chunks of
   * every array plus a quarter (so reading z slices in order decodes each chunk once), at least
   * 128 MB: 128 MB for 1024 x 1024 uint16, about 300 MB for kidney_1_voi (1928 x 1928).
   */
  memoryCacheMB?: number;
  /** A decoded-chunk cache shared with other readers (keys carry the array prefix); overrides memoryCacheMB. */
  memory?: ComputedCache<Uint8Array | Uint16Array>;
  /** Limits chunk fetches in flight; default one limiter of {@link DEFAULT_FETCH_CONCURRENCY} per process. */
  fetchLimit?: LimitFunction;
}

/**
 * A volume stored as Zarr v3 arrays in S3 (image, optional 0/1 labels and field-of-view mask).
 * Opening is lazy: nothing is fetched until the first read, so a row can be turned into a reader
 * synchronously. Reads never hold more than the chunks a window touches plus the memory LRU.
 */
export class ZarrVolume implements VolumeReader {
  readonly id: string;
  readonly shape: readonly [number, number, number];
  readonly dtype: VolumeDtype;
  readonly hasLabels: boolean;
  readonly hasMask: boolean;
  readonly stats: VolumeStats;
  private readonly image: ChunkedArray;
  private readonly label?: ChunkedArray;
  private readonly mask?: ChunkedArray;
  private fg?: Promise<ForegroundIndex>;

  constructor(
    readonly source: ZarrVolumeSource,
    options: ZarrVolumeOptions = {},
  ) {
    this.id = source.id;
    this.shape = [source.depth, source.height, source.width];
    if (source.dtype !== 'uint8' && source.dtype !== 'uint16') throw new TypeError(`volume ${source.id}: unsupported dtype ${source.dtype}`);
    this.dtype = source.dtype;
    this.stats = source.stats as VolumeStats;
    const disk = options.cache === undefined ? chunkCacheFromEnv() : options.cache;
    const perVoxel = (this.dtype === 'uint16' ? 2 : 1) + (source.labelKey ? 1 : 0) + (source.maskKey ? 1 : 0);
    const slabBytes = Math.ceil(source.height / 32) * Math.ceil(source.width / 32) * 32 ** 3 * perVoxel;
    const memoryBytes = options.memoryCacheMB !== undefined ? options.memoryCacheMB * 2 ** 20 : Math.max(128 * 2 ** 20, 1.25 * slabBytes);
    const memory = options.memory ?? new ComputedCache<Voxels>(memoryBytes);
    const limit = options.fetchLimit ?? defaultFetchLimit();
    this.image = new ChunkedArray(source.imageKey, memory, disk, limit);
    this.label = source.labelKey ? new ChunkedArray(source.labelKey, memory, disk, limit) : undefined;
    this.mask = source.maskKey ? new ChunkedArray(source.maskKey, memory, disk, limit) : undefined;
    this.hasLabels = !!this.label;
    this.hasMask = !!this.mask;
  }

  async readImageBox(box: Box): Promise<Voxels> {
    checkBox(box, this.shape);
    return this.image.readBox(box);
  }

  async readLabelBox(box: Box): Promise<Uint8Array> {
    if (!this.label) throw new Error(`volume ${this.id} has no labels`);
    checkBox(box, this.shape);
    return (await this.label.readBox(box)) as Uint8Array;
  }

  /** 0/1 field-of-view mask of a box (2D sources such as DRIVE); throws when there is none. */
  async readMaskBox(box: Box): Promise<Uint8Array> {
    if (!this.mask) throw new Error(`volume ${this.id} has no mask`);
    checkBox(box, this.shape);
    return (await this.mask.readBox(box)) as Uint8Array;
  }

  async readImage(axis: Axis, start: number, count: number): Promise<Voxels> {
    return this.window(this.image, axis, start, count);
  }

  async readLabel(axis: Axis, start: number, count: number): Promise<Uint8Array> {
    if (!this.label) throw new Error(`volume ${this.id} has no labels`);
    return (await this.window(this.label, axis, start, count)) as Uint8Array;
  }

  async readMask(axis: Axis, start: number, count: number): Promise<Uint8Array> {
    if (!this.mask) throw new Error(`volume ${this.id} has no mask`);
    return (await this.window(this.mask, axis, start, count)) as Uint8Array;
  }

  /** The foreground index stored at import beside the labels (built from the labels if absent). */
  foregroundIndex(): Promise<ForegroundIndex> {
    this.fg ??= (async () => {
      if (!this.source.labelKey) return { cellSize: 32, voxels: [], counts: [] };
      const bytes = await getObject(foregroundKey(this.source.labelKey));
      if (bytes) return JSON.parse(new TextDecoder().decode(bytes)) as ForegroundIndex;
      const { ForegroundIndexBuilder } = await import('../preprocessing/foreground.ts');
      const b = new ForegroundIndexBuilder(this.shape);
      for (let z = 0; z < this.shape[0]; z++) b.addSlice(z, await this.readLabel('z', z, 1));
      return b.finish();
    })();
    return this.fg;
  }

  private async window(a: ChunkedArray, axis: Axis, start: number, count: number): Promise<Voxels> {
    const len = axisLength(this.shape, axis);
    if (start < 0 || count < 1 || start + count > len) throw new RangeError(`window ${start}+${count} is outside axis ${axis} of length ${len}`);
    const [Z, Y, X] = this.shape;
    if (axis === 'z') return a.readBox({ z0: start, z1: start + count, y0: 0, y1: Y, x0: 0, x1: X });
    const box = axis === 'y' ? { z0: 0, z1: Z, y0: start, y1: start + count, x0: 0, x1: X } : { z0: 0, z1: Z, y0: 0, y1: Y, x0: start, x1: start + count };
    const data = await a.readBox(box);
    // Reorder the [z, y, x] box into [count, rows, cols] of the window's orientation.
    const [, rows, cols] = windowShape(this.shape, axis, count);
    const out = new (data.constructor as new (n: number) => Voxels)(data.length);
    for (let k = 0; k < count; k++)
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          // axis y: box [Z, count, X], rows = z, cols = x; axis x: box [Z, Y, count], rows = z, cols = y
          const src = axis === 'y' ? (r * count + k) * cols + c : (r * cols + c) * count + k;
          out[(k * rows + r) * cols + c] = data[src];
        }
    return out;
  }
}

/** A reader for a registered Volume row (what the worker uses). */
export function openVolume(row: ZarrVolumeSource, options?: ZarrVolumeOptions): ZarrVolume {
  return new ZarrVolume(row, options);
}
