import * as zarr from 'zarrita';
import pLimit, { type LimitFunction } from 'p-limit';
import type { AbsolutePath, AsyncMutable } from '@zarrita/storage';
import { bucketName, getObject, putObject } from '@capillary/storage';
import type { ChunkCache } from './chunk-cache.ts';
import type { VolumeDtype } from '../types.ts';

/** Default chunk: cubes, so windows of a few slices along any axis waste the same. */
export const DEFAULT_CHUNK_SHAPE: [number, number, number] = [32, 32, 32];

/**
 * zstd level 1: the v3 codec that zarrita encodes and decodes (wasm) and other Zarr readers know;
 * fastest to write of those measured. (Blosc compresses noisy uint16 slightly better, but its v3
 * metadata as zarrita writes it is not what other readers expect.)
 */
const CODECS = [
  { name: 'bytes', configuration: { endian: 'little' } },
  { name: 'zstd', configuration: { level: 1, checksum: false } },
];

/** A zarrita store over S3 objects under `prefix`, optionally reading through a chunk cache. */
export class S3ZarrStore implements AsyncMutable {
  /** Encoded bytes written to chunk keys (for the compression ratio). */
  chunkBytesWritten = 0;

  constructor(
    readonly prefix: string,
    private readonly cache?: ChunkCache,
    /** A store only ever writing fresh chunks: reading a chunk back answers "absent" without asking S3. */
    private readonly freshChunks = false,
  ) {}

  async get(key: AbsolutePath): Promise<Uint8Array | undefined> {
    const s3Key = this.prefix + key;
    const isChunk = key.startsWith('/c/');
    if (isChunk && this.freshChunks) return undefined;
    const cacheKey = `${bucketName()}/${s3Key}`;
    if (isChunk && this.cache) {
      const hit = await this.cache.get(cacheKey);
      if (hit) return hit;
    }
    const bytes = await getObject(s3Key);
    if (bytes === null) return undefined;
    if (isChunk && this.cache) await this.cache.put(cacheKey, bytes);
    return bytes;
  }

  async set(key: AbsolutePath, value: Uint8Array): Promise<void> {
    if (key.startsWith('/c/')) this.chunkBytesWritten += value.length;
    await putObject(this.prefix + key, value, key.endsWith('.json') ? 'application/json' : 'application/octet-stream');
  }
}

/**
 * Chunk shape for a volume: {@link DEFAULT_CHUNK_SHAPE} cubes, except that volumes thinner than a
 * chunk (DRIVE images are 1 slice, vesselNN 10-26) get one chunk through their depth and wider
 * chunks in-plane (by a power of two), so chunks keep roughly the same number of voxels instead of
 * becoming thousands of tiny S3 objects.
 */
export function chunkShapeFor(shape: readonly [number, number, number], base = DEFAULT_CHUNK_SHAPE[0]): [number, number, number] {
  const [Z, Y, X] = shape;
  const grow = Z < base ? 2 ** Math.round(Math.log2(Math.sqrt(base / Z))) : 1;
  return [Math.min(Z, base), Math.min(Y, base * grow), Math.min(X, base * grow)];
}

let zstd: Promise<{ encode(b: Uint8Array): Promise<Uint8Array> }> | undefined;
/** The zstd codec zarrita decodes these arrays with, configured as in {@link CODECS}. */
function zstdCodec() {
  zstd ??= (async () => {
    const Codec = (await zarr.registry.get('zstd')!()) as unknown as { fromConfig(c: unknown, meta: unknown): { encode(b: Uint8Array): Promise<Uint8Array> } };
    return Codec.fromConfig(CODECS[1].configuration, {});
  })();
  return zstd;
}

export interface ZarrSliceWriterOptions {
  /** [z, y, x] */
  shape: [number, number, number];
  dtype: VolumeDtype;
  chunkShape?: [number, number, number];
  /** Chunk uploads in flight when no `limit` is given (default 8). */
  concurrency?: number;
  /** A limiter shared with other writers (all arrays of one import), bounding their uploads together. */
  limit?: LimitFunction;
  /** Slabs an earlier, interrupted run uploaded: their slices are taken as usual but not uploaded again. */
  resume?: SlabProgress;
  /** Aborting makes queued chunk uploads fail instead of starting (those in flight finish). */
  signal?: AbortSignal;
}

/** How far a writer got: slabs (of chunk depth) whose every chunk is stored, and those chunks' bytes. */
export interface SlabProgress {
  slabs: number;
  chunkBytes: number;
}

type Slab = Uint8Array | Uint16Array;

/**
 * Writes a Zarr v3 array to S3 from z slices fed in order, one slab of chunk depth at a time
 * (chunk z x Y x X voxels: 76 MB for a 1303 x 912 uint16 kidney slab at depth 32). Slabs are
 * chunk-aligned, so no chunk is ever read back and rewritten.
 *
 * A full slab uploads in the background while the next one fills (two slab buffers, never more:
 * `write` waits for the previous slab's uploads before handing off the next), so decoding the
 * source overlaps the uploads and memory does not grow with depth. An upload failure surfaces from
 * the next `write` or `close`.
 */
export class ZarrSliceWriter {
  private slab: Slab;
  private spare?: Slab;
  private slabStart = 0;
  private filled = 0;
  private z = 0;
  private inFlight?: Promise<void>;
  private uploaded: number;
  /** storedBefore[k]: stored chunk bytes of slabs 0..k-1 (known from the resume point on). */
  private readonly storedBefore: number[] = [];
  private readonly limit: LimitFunction;

  private constructor(
    private readonly store: S3ZarrStore,
    private readonly arr: zarr.Array<'uint8' | 'uint16', S3ZarrStore>,
    readonly options: ZarrSliceWriterOptions & { chunkShape: [number, number, number] },
  ) {
    this.slab = this.newSlab();
    this.limit = options.limit ?? pLimit(options.concurrency ?? 8);
    this.uploaded = options.resume?.slabs ?? 0;
    this.storedBefore[this.uploaded] = options.resume?.chunkBytes ?? 0;
  }

  static async create(prefix: string, options: ZarrSliceWriterOptions): Promise<ZarrSliceWriter> {
    const o = { ...options, chunkShape: options.chunkShape ?? chunkShapeFor(options.shape) };
    // Each chunk is written once, whole or (at the far edges) partly: zarrita reads a partly
    // written chunk back first, which for a fresh array is always empty.
    const store = new S3ZarrStore(prefix, undefined, true);
    const arr = await zarr.create(store, {
      shape: o.shape,
      chunkShape: o.chunkShape.map((c, i) => Math.min(c, o.shape[i])),
      dtype: o.dtype,
      codecs: CODECS,
      fillValue: 0,
      dimensionNames: ['z', 'y', 'x'],
    });
    return new ZarrSliceWriter(store, arr as zarr.Array<'uint8' | 'uint16', S3ZarrStore>, o);
  }

  /** Slabs (of chunk depth, from the first) whose chunks are all stored, resumed ones included. */
  get uploadedSlabs(): number {
    return this.uploaded;
  }

  /** Stored chunk bytes of the first `slabs` slabs (at most {@link uploadedSlabs}, at least the resume point). */
  storedBytesBefore(slabs: number): number {
    const b = this.storedBefore[slabs];
    if (b === undefined) throw new RangeError(`no record of the first ${slabs} slabs (uploaded ${this.uploaded})`);
    return b;
  }

  /** Appends the next z slice (Y x X, C order). */
  async write(slice: Uint8Array | Uint16Array): Promise<void> {
    const [Z, Y, X] = this.options.shape;
    if (slice.length !== Y * X) throw new RangeError(`slice has ${slice.length} voxels, expected ${Y}x${X}`);
    if (this.z >= Z) throw new RangeError(`array already has all ${Z} slices`);
    this.slab.set(slice, this.filled * Y * X);
    this.filled++;
    this.z++;
    if (this.filled === this.arr.chunks[0] || this.z === Z) await this.flush();
  }

  /** Waits until no upload is running; rejects with the first failed upload, if any (also later). */
  async drain(): Promise<void> {
    await this.inFlight;
  }

  /** Finishes the array; returns the compression ratio (raw / stored chunk bytes). */
  async close(): Promise<{ compressionRatio: number }> {
    const [Z, Y, X] = this.options.shape;
    if (this.z !== Z) throw new RangeError(`array got ${this.z} of ${Z} slices`);
    await this.drain();
    const bytesPerVoxel = this.options.dtype === 'uint8' ? 1 : 2;
    const compressionRatio = (Z * Y * X * bytesPerVoxel) / Math.max(1, this.storedBytesBefore(this.uploaded));
    // Record the ratio in the array's attributes: readers use it to choose what to cache.
    const meta = JSON.parse(new TextDecoder().decode(await this.store.get('/zarr.json')));
    meta.attributes = { ...meta.attributes, capillary: { compressionRatio } };
    await this.store.set('/zarr.json', new TextEncoder().encode(JSON.stringify(meta)));
    return { compressionRatio };
  }

  private newSlab(): Slab {
    const [, Y, X] = this.options.shape;
    const n = this.options.chunkShape[0] * Y * X;
    return this.options.dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
  }

  /** Hands the full slab to the background upload (after the previous one finished) and takes a free buffer. */
  private async flush(): Promise<void> {
    const index = this.slabStart / this.arr.chunks[0];
    const filled = this.filled;
    this.slabStart += filled;
    this.filled = 0;
    if (index < (this.options.resume?.slabs ?? 0)) return; // stored by an earlier run
    await this.drain();
    const full = this.slab;
    this.slab = this.spare ?? this.newSlab();
    this.spare = undefined;
    this.inFlight = this.upload(full, filled, index).then((bytes) => {
      this.storedBefore[index + 1] = this.storedBefore[index] + bytes;
      this.uploaded = index + 1;
      this.spare = full;
    });
    // Marked handled here; `drain` (from the next write or close) rethrows it.
    this.inFlight.catch(() => undefined);
  }

  /**
   * Cuts a slab into chunks, encodes and uploads them through the limiter; resolves with their stored
   * bytes once every chunk is stored. Chunks are cut and encoded here (row copies plus the array's
   * own zstd codec) rather than through zarrita's `set`, whose element-wise copy took ~1 s per 64 MB
   * slab; the bytes are the same standard v3 chunks (C order, little endian, edge chunks padded with
   * the fill value 0). After the first failure the slab's queued chunks give up instead of uploading.
   */
  private async upload(slab: Slab, filled: number, cz: number): Promise<number> {
    const [, Y, X] = this.options.shape;
    const [CZ, CY, CX] = this.arr.chunks;
    const codec = await zstdCodec();
    const Typed = slab instanceof Uint8Array ? Uint8Array : Uint16Array;
    let failed = false;
    let firstError: unknown;
    let bytes = 0;
    const tasks: Promise<void>[] = [];
    for (let cy = 0; cy * CY < Y; cy++) {
      for (let cx = 0; cx * CX < X; cx++) {
        const task = this.limit(async () => {
          if (failed) throw new Error('an earlier chunk of this slab failed');
          this.options.signal?.throwIfAborted();
          const chunk = new Typed(CZ * CY * CX);
          const rows = Math.min(CY, Y - cy * CY);
          const cols = Math.min(CX, X - cx * CX);
          for (let z = 0; z < filled; z++) {
            for (let y = 0; y < rows; y++) {
              // An element loop: rows are 32 voxels, and a subarray per row cost more (and garbage).
              const src = (z * Y + cy * CY + y) * X + cx * CX;
              const dst = (z * CY + y) * CX;
              for (let x = 0; x < cols; x++) chunk[dst + x] = slab[src + x];
            }
          }
          const encoded = await codec.encode(new Uint8Array(chunk.buffer, 0, chunk.byteLength));
          await this.store.set(`/c/${cz}/${cy}/${cx}`, encoded);
          bytes += encoded.length;
        });
        tasks.push(
          task.catch((e) => {
            if (!failed) firstError = e;
            failed = true;
          }),
        );
      }
    }
    // Settled, not raced: the caller learns of a failure only once nothing of the slab is running.
    await Promise.all(tasks);
    if (failed) throw firstError;
    return bytes;
  }
}
