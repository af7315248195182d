import type { PrismaClient } from '@capillary/db';
import { LRUCache } from 'lru-cache';
import pLimit, { type LimitFunction } from 'p-limit';
import { buildPreview, ComputedCache, loadPreview, niftiUint8, normalizeInto, poolPreview, previewFactor, type Axis, type Preview, type VolumeStats, openVolume, type ZarrVolume, type ZarrVolumeSource } from '@capillary/volumes';
import { badField, HttpError, notFound } from './errors.ts';

type Voxels = Uint8Array | Uint16Array;
export type ViewerLayer = 'image' | 'label' | 'prediction';

export interface ViewerOptions {
  /** Memory of all caches together, in MB. */
  cacheMB: number;
  /** Chunk fetches in flight at once, all viewer requests together. */
  fetchConcurrency: number;
}

interface MaskOutput {
  volumeId: string;
  maskKey: string;
}

/** Masks are written as plain uint8 volumes of 0/1; stats only matter for images. */
const MASK_STATS: VolumeStats = { p005: 0, p995: 1, mean: 0, std: 0, foregroundFraction: null };

/** The Volume columns the viewer reads. */
export interface ViewerVolume extends ZarrVolumeSource {
  imageKey: string;
  labelKey: string | null;
  voxelSizeUm: number[];
  role: string;
}

/**
 * Whether the API serves a volume's labels: not a private-test volume's, since anyone who could read
 * them could score a mask themselves and learn the private score before any close.
 */
export const servesLabels = (row: { labelKey: string | null; role: string }) => !!row.labelKey && row.role !== 'private_test';

/** One binary array of a volume: its S3 prefix (what identifies its bytes) and how to read it. */
interface BinaryArray {
  key: string;
  reader: ZarrVolume;
  read(axis: Axis, start: number, count: number): Promise<Voxels>;
}

/** A cache entry holding a preview, sized by its voxels. */
interface PreviewEntry {
  byteLength: number;
  preview: Preview;
}

/**
 * Reads behind the dashboard's viewer: slices and 3D previews of volumes, labels and predicted
 * masks. Every cache is keyed by the S3 array a result comes from (fresh per import or prediction,
 * so it names the bytes exactly) plus what selects within it; concurrent identical requests share
 * one computation; all chunk fetches pass one limiter; whole-array scans (building a 3D preview,
 * stored in S3 afterwards) run one at a time.
 */
export class ViewerService {
  private readonly readers = new LRUCache<string, ZarrVolume>({ max: 256 });
  /** Decoded chunks of every array, shared by all readers. */
  readonly chunks: ComputedCache<Voxels>;
  readonly slices: ComputedCache<Uint8Array>;
  readonly previews: ComputedCache<PreviewEntry>;
  /** NIfTI files as sent, by array and pooling factor. */
  readonly files: ComputedCache<Uint8Array>;
  private readonly fetchLimit: LimitFunction;
  private readonly scanLimit = pLimit(1);
  /** Whole-array scans run (3D previews built) by this process. */
  scans = 0;

  constructor(
    private readonly db: PrismaClient,
    options: ViewerOptions,
  ) {
    const budget = options.cacheMB * 2 ** 20;
    this.chunks = new ComputedCache(budget * 0.625);
    this.slices = new ComputedCache(budget * 0.125);
    this.previews = new ComputedCache(budget * 0.125);
    this.files = new ComputedCache(budget * 0.125);
    this.fetchLimit = pLimit(options.fetchConcurrency);
  }

  /** Chunk fetches running and waiting now. */
  get fetchesInFlight(): { active: number; pending: number } {
    return { active: this.fetchLimit.activeCount, pending: this.fetchLimit.pendingCount };
  }

  /** The volume row with its dataset's name; 404 when there is none. */
  async volume(id: string) {
    const row = await this.db.volume.findUnique({ where: { id }, include: { dataset: { select: { name: true } } } });
    if (!row) throw notFound(`volume ${id}`);
    return row;
  }

  /**
   * One binary layer of a volume: its labels, or the mask a prediction wrote for it. Checked against
   * the database before anything is read: no labels, no or an unknown prediction, or a prediction
   * without a mask for this volume are 4xx here.
   */
  async binaryArray(row: ViewerVolume, layer: 'label' | 'prediction', predictionId: string | undefined): Promise<BinaryArray> {
    if (layer === 'label') {
      if (!row.labelKey) throw notFound(`labels of volume ${row.id}`);
      if (!servesLabels(row)) throw new HttpError(403, `labels of volume ${row.id} are private-test labels; the API never serves them`);
      const reader = this.volumeReader(row);
      return { key: row.labelKey, reader, read: (a, s, c) => reader.readLabel(a, s, c) };
    }
    if (!predictionId) throw badField('querystring/predictionId', 'is required for layer=prediction');
    const prediction = await this.db.prediction.findUnique({ where: { id: predictionId }, select: { status: true, outputs: true } });
    if (!prediction) throw notFound(`prediction ${predictionId}`);
    const out = ((prediction.outputs ?? []) as unknown as MaskOutput[]).find((o) => o.volumeId === row.id);
    if (!out) throw new HttpError(404, `prediction ${predictionId} has no mask for volume ${row.id}${prediction.status === 'succeeded' ? '' : ` (it is ${prediction.status})`}`);
    const reader = this.maskReader(row, out.maskKey);
    return { key: out.maskKey, reader, read: (a, s, c) => reader.readImage(a, s, c) };
  }

  /** One slice as uint8: the image normalised to 0-255 by the volume's percentiles, a binary layer 0/1. */
  async slice(row: ViewerVolume, layer: ViewerLayer, predictionId: string | undefined, axis: Axis, index: number): Promise<Uint8Array> {
    if (layer === 'image') {
      const reader = this.volumeReader(row);
      // The stats that normalise it belong to the image array, fixed at import.
      return this.slices.get(`${row.imageKey}#${axis}${index}`, async () => {
        const raw = await reader.readImage(axis, index, 1);
        const norm = normalizeInto(raw, reader.stats, new Float32Array(raw.length));
        const out = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) out[i] = Math.round(norm[i] * 255);
        return out;
      });
    }
    const array = await this.binaryArray(row, layer, predictionId);
    return this.slices.get(`${array.key}#${axis}${index}`, async () => binary(await array.read(axis, index, 1)));
  }

  /**
   * A binary layer max-pooled so its longest side is at most `size`, as a uint8 NIfTI-1 file,
   * pooled from the array's stored preview (built by one scan the first time anyone asks).
   */
  async volume3d(row: ViewerVolume, layer: 'label' | 'prediction', predictionId: string | undefined, size: number): Promise<Uint8Array> {
    const array = await this.binaryArray(row, layer, predictionId);
    const shape = [row.depth, row.height, row.width] as const;
    const factor = previewFactor(shape, size);
    return this.files.get(`${array.key}#f${factor}`, async () => {
      const base = await this.preview(array, shape);
      const p = await poolPreview(base, factor / base.factor);
      const voxel = row.voxelSizeUm.length === 3 ? row.voxelSizeUm : [1, 1, 1];
      return niftiUint8(p.data, p.shape, voxel.map((v) => (v * p.factor) / 1000) as [number, number, number]);
    });
  }

  private async preview(array: BinaryArray, shape: readonly [number, number, number]): Promise<Preview> {
    const entry = await this.previews.get(array.key, async () => {
      const stored = await loadPreview(array.key, shape);
      const preview = stored ?? (await this.scanLimit(async () => {
        // Another API process may have stored it while this one waited for its turn.
        const late = await loadPreview(array.key, shape);
        if (late) return late;
        this.scans++;
        // A private reader: a scan touches every chunk once and must not flush the shared cache.
        const scanner = this.scanReader(array, shape);
        return buildPreview(array.key, shape, (s, c) => scanner(s, c));
      }));
      return { byteLength: preview.data.byteLength, preview };
    });
    return entry.preview;
  }

  /** Reads z windows of a binary array through a reader of its own, remembering one slab row of chunks. */
  private scanReader(array: BinaryArray, shape: readonly [number, number, number]) {
    const [, Y, X] = shape;
    const slab = Math.ceil(Y / 32) * Math.ceil(X / 32) * 32 ** 3;
    const reader = openVolume(
      { id: `scan:${array.key}`, imageKey: array.key, dtype: 'uint8', depth: shape[0], height: Y, width: X, stats: MASK_STATS },
      { memory: new ComputedCache(1.25 * slab), fetchLimit: this.fetchLimit, cache: null },
    );
    return (start: number, count: number) => reader.readImage('z', start, count);
  }

  private volumeReader(row: ViewerVolume): ZarrVolume {
    return this.reader(`v:${row.id}`, () => openVolume(row, { memory: this.chunks, fetchLimit: this.fetchLimit }));
  }

  private maskReader(row: ViewerVolume, maskKey: string): ZarrVolume {
    return this.reader(`m:${maskKey}`, () =>
      openVolume(
        { id: maskKey, imageKey: maskKey, dtype: 'uint8', depth: row.depth, height: row.height, width: row.width, stats: MASK_STATS },
        { memory: this.chunks, fetchLimit: this.fetchLimit },
      ),
    );
  }

  /** Readers are cheap (their chunks live in the shared cache); kept only to reuse opened array metadata. */
  private reader(key: string, open: () => ZarrVolume): ZarrVolume {
    let r = this.readers.get(key);
    if (!r) {
      r = open();
      this.readers.set(key, r);
    }
    return r;
  }
}

function binary(v: Voxels): Uint8Array {
  const out = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] ? 1 : 0;
  return out;
}
