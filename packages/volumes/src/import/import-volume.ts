import pLimit from 'p-limit';
import type { Prisma, SplitRole, Volume } from '@capillary/db';
import { deletePrefix, ensureBucket, foregroundKey, putObject, volumeArrayKeys, volumePrefix } from '@capillary/storage';
import { ForegroundIndexBuilder } from '../preprocessing/foreground.ts';
import { StatsAccumulator } from '../preprocessing/stats.ts';
import { chunkShapeFor, ZarrSliceWriter } from '../store/zarr-array.ts';
import { ImportError, ImportInterruptedError, VolumeConflictError } from './errors.ts';
import { importId, ResumeLog, type ArrayName } from './resume.ts';
import type { VolumeSource } from './sources.ts';

/**
 * Where an import registers its volume: the one writer of dataset and volume rows
 * (`VolumeRegistry` of `@capillary/registry`), given by the caller so that this data layer does
 * not depend on the lifecycle owner.
 */
export interface VolumeCatalog {
  /** Volumes of `dataset` named `name` or holding `contentHash`. */
  namedOrHolding(dataset: string, name: string, contentHash: string): Promise<Volume[]>;
  /** Registers the volume, and its dataset when missing, in one transaction. */
  register(dataset: { name: string; projectId?: string }, volume: VolumeRowFields): Promise<Volume>;
  /** Whether a registered volume reads the image array at `imageKey`. */
  arraysInUse(imageKey: string): Promise<boolean>;
}

/** What an import knows of the volume it registers. */
export interface VolumeRowFields {
  name: string;
  role: SplitRole;
  imageKey: string;
  labelKey: string | null;
  maskKey: string | null;
  dtype: string;
  depth: number;
  height: number;
  width: number;
  voxelSizeUm: number[];
  stats: Prisma.InputJsonValue;
  contentHash: string;
  labelDensity: number;
}

export interface ImportOptions {
  /** The writer of the rows (`new VolumeRegistry(prisma())`). */
  catalog: VolumeCatalog;
  /** Dataset to register the volume in (created when missing). */
  dataset: string;
  /** Project a dataset created here belongs to; unset: the `default` project. An existing dataset keeps its own. */
  projectId?: string;
  role?: SplitRole;
  /** Share of vessels that carry labels (1 dense; e.g. 0.65 for kidney_2). */
  labelDensity?: number;
  /** S3 key root under which each import gets its prefix (default `volumes`). */
  keyRoot?: string;
  chunkShape?: [number, number, number];
  /** Chunk uploads in flight, all arrays together (default 16). */
  concurrency?: number;
  /**
   * Called once the content is hashed (done 0, or the slices an earlier run finished) and after
   * each slice. Slices up to `resumedSlices` are read again (statistics need them) but not uploaded.
   */
  onProgress?: (done: number, total: number, info: { resumedSlices: number }) => void;
  /** Aborting stops the import between slices; what is uploaded stays for a rerun to resume. */
  signal?: AbortSignal;
}

export interface ImportResult {
  volume: Volume;
  /** False when the same content was already registered in the dataset (a no-op). */
  created: boolean;
}

const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Imports a volume: streams its slices into Zarr arrays under the import's prefix (image, labels,
 * mask), computing statistics and the foreground index on the way, then registers the Volume row
 * (and its Dataset) in one transaction. Nothing is visible before that transaction.
 *
 * The prefix is the same for the same dataset, name and content, and a manifest there records the
 * chunk slabs stored in every array: an import stopped by Ctrl-C, a crash or an S3 outage, run again,
 * uploads only the slabs not recorded ({@link ImportInterruptedError} says so). Bad input
 * ({@link ImportError}) instead removes what was written. Importing content already in the dataset
 * returns the existing row without writing anything.
 */
export async function importVolume(source: VolumeSource, options: ImportOptions): Promise<ImportResult> {
  if (!DATASET_NAME.test(options.dataset)) {
    throw new ImportError(source.origin, `dataset name "${options.dataset}" is invalid (letters, digits, . _ -; at most 100 characters)`);
  }
  const contentHash = await source.contentHash();
  const known = await registered(options.catalog, options.dataset, source.name, contentHash);
  if (known) return known;

  await ensureBucket();
  const [Z, Y, X] = source.shape;
  const chunkShape = (options.chunkShape ?? chunkShapeFor(source.shape)).map((c, i) => Math.min(c, source.shape[i])) as [number, number, number];
  const arrays: ArrayName[] = ['image', ...(source.hasLabels ? (['label'] as const) : []), ...(source.hasMask ? (['mask'] as const) : [])];
  const plan = { contentHash, shape: source.shape, chunkShape, dtype: source.dtype, arrays };
  const prefix = volumePrefix(importId(options.dataset, source.name, plan), options.keyRoot);
  const layout = volumeArrayKeys(prefix);
  const keys = {
    imageKey: layout.imageKey,
    labelKey: source.hasLabels ? layout.labelKey : null,
    maskKey: source.hasMask ? layout.maskKey : null,
  };
  const log = await ResumeLog.open(prefix, plan);
  const slabs = Math.ceil(Z / chunkShape[0]);
  const uploads = new AbortController();
  const writers = new Map<ArrayName, ZarrSliceWriter>();
  /** Records the slabs every array has stored (writers finish slabs in order; the slowest decides). */
  const record = () => {
    const done = Math.min(...[...writers.values()].map((w) => w.uploadedSlabs));
    return log.record(done, Object.fromEntries([...writers].map(([a, w]) => [a, w.storedBytesBefore(done)])));
  };
  try {
    const limit = pLimit(options.concurrency ?? 16);
    const signal = AbortSignal.any([uploads.signal, ...(options.signal ? [options.signal] : [])]);
    for (const a of arrays) {
      const dtype = a === 'image' ? source.dtype : 'uint8';
      const resume = { slabs: log.slabsDone, chunkBytes: log.chunkBytes(a) };
      writers.set(a, await ZarrSliceWriter.create(layout[`${a}Key`], { shape: source.shape, chunkShape, dtype, limit, resume, signal }));
    }
    const [image, label, mask] = [writers.get('image')!, writers.get('label'), writers.get('mask')];
    const stats = new StatsAccumulator(source.dtype);
    const fg = label ? new ForegroundIndexBuilder(source.shape) : undefined;
    const resumedSlices = Math.min(Z, log.resumedSlabs * chunkShape[0]);
    options.onProgress?.(0, Z, { resumedSlices });

    let z = 0;
    for await (const s of source.slices()) {
      options.signal?.throwIfAborted();
      if (z >= Z) throw new ImportError(source.origin, `yields more than the ${Z} slices its headers announced`);
      if (s.image.length !== Y * X) throw new ImportError(source.origin, `slice ${z} has ${s.image.length} voxels, expected ${Y}x${X}`);
      if (!!s.label !== !!label || !!s.mask !== !!mask) throw new ImportError(source.origin, `slice ${z} lacks its label or mask`);
      stats.addImage(s.image);
      if (s.label) {
        stats.addLabel(s.label);
        fg!.addSlice(z, s.label);
      }
      await Promise.all([image.write(s.image), label?.write(s.label!), mask?.write(s.mask!)]);
      z++; // not inside the optional call: with no callback its arguments are never evaluated
      if (z % chunkShape[0] === 0) await record();
      options.onProgress?.(z, Z, { resumedSlices });
    }
    if (z !== Z) throw new ImportError(source.origin, `yielded ${z} slices, expected ${Z}`);
    await Promise.all([...writers.values()].map((w) => w.close()));
    await record();
    if (fg) await putObject(foregroundKey(keys.labelKey!), JSON.stringify(fg.finish()), 'application/json');
    options.signal?.throwIfAborted();

    const volume = await options.catalog.register(
      { name: options.dataset, ...(options.projectId ? { projectId: options.projectId } : {}) },
      {
        name: source.name,
        role: options.role ?? 'train',
        ...keys,
        dtype: source.dtype,
        depth: Z,
        height: Y,
        width: X,
        voxelSizeUm: source.voxelSizeUm,
        stats: stats.finish() as unknown as Prisma.InputJsonValue,
        contentHash,
        labelDensity: options.labelDensity ?? 1,
      },
    );
    return { volume, created: true };
  } catch (e) {
    // Nothing may still be uploading when the caller hears of the failure (or reruns the import).
    uploads.abort(e);
    await Promise.allSettled([...writers.values()].map((w) => w.drain()));
    // A concurrent import of the same volume may have registered it first (the same prefix: keep it).
    if ((e as { code?: string }).code === 'P2002') {
      const again = await registered(options.catalog, options.dataset, source.name, contentHash);
      if (again) return again;
    }
    if (e instanceof ImportError) {
      if (!(await options.catalog.arraysInUse(keys.imageKey))) await deletePrefix(`${prefix}/`).catch(() => undefined);
      throw e;
    }
    // Best effort: S3 may be what failed. The manifest then keeps its last record.
    if (writers.size === arrays.length) await record().catch(() => undefined);
    throw new ImportInterruptedError(source.origin, log.slabsDone, slabs, e);
  }
}

/** The row already holding this content in the dataset; a conflict when the name holds other content. */
async function registered(catalog: VolumeCatalog, dataset: string, name: string, contentHash: string): Promise<ImportResult | null> {
  const rows = await catalog.namedOrHolding(dataset, name, contentHash);
  const same = rows.find((r) => r.contentHash === contentHash);
  if (same) return { volume: same, created: false };
  if (rows.length > 0) {
    throw new VolumeConflictError(name, `dataset ${dataset} already has a volume named ${name} with different content; delete it or import under another name`);
  }
  return null;
}
