import { randomUUID } from 'node:crypto';
import { volumeArrayKeys, volumePrefix } from '@capillary/registry/keys';
import { prisma, type Volume, type SplitRole } from '@capillary/db';
import { deletePrefix, ensureBucket, putObject } from '@capillary/storage';
import { ForegroundIndexBuilder } from '../foreground.ts';
import { StatsAccumulator } from '../stats.ts';
import { ZarrSliceWriter } from '../zarr-array.ts';
import { FOREGROUND_OBJECT } from '../zarr-volume.ts';
import { ImportError, VolumeConflictError } from './errors.ts';
import type { VolumeSource } from './sources.ts';

export interface ImportOptions {
  /** Dataset to register the volume in (created when missing). */
  dataset: string;
  role?: SplitRole;
  /** Share of vessels that carry labels (1 dense; e.g. 0.65 for kidney_2). */
  labelDensity?: number;
  /** S3 key root under which each import gets a fresh prefix (default `volumes`). */
  keyRoot?: string;
  chunkShape?: [number, number, number];
  /** Called after each slice is written. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the import between slices and removes what it wrote. */
  signal?: AbortSignal;
}

export interface ImportResult {
  volume: Volume;
  /** False when the same content was already registered in the dataset (a no-op). */
  created: boolean;
}

const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Imports a volume: streams its slices into fresh Zarr arrays under a new S3 prefix (image, labels,
 * mask), computing statistics and the foreground index on the way, then registers the Volume row
 * (and its Dataset) in one transaction. Nothing is visible before that transaction: on any error the
 * prefix is deleted and no row exists. Importing content already in the dataset returns the existing
 * row without writing anything.
 */
export async function importVolume(source: VolumeSource, options: ImportOptions): Promise<ImportResult> {
  if (!DATASET_NAME.test(options.dataset)) {
    throw new ImportError(source.origin, `dataset name "${options.dataset}" is invalid (letters, digits, . _ -; at most 100 characters)`);
  }
  const db = prisma();
  const contentHash = await source.contentHash();
  const known = await registered(options.dataset, source.name, contentHash);
  if (known) return known;

  await ensureBucket();
  const [Z, Y, X] = source.shape;
  const prefix = volumePrefix(randomUUID(), options.keyRoot);
  const layout = volumeArrayKeys(prefix);
  const keys = {
    imageKey: layout.imageKey,
    labelKey: source.hasLabels ? layout.labelKey : null,
    maskKey: source.hasMask ? layout.maskKey : null,
  };
  try {
    const arrayOpts = { shape: source.shape, chunkShape: options.chunkShape };
    const image = await ZarrSliceWriter.create(keys.imageKey, { ...arrayOpts, dtype: source.dtype });
    const label = keys.labelKey ? await ZarrSliceWriter.create(keys.labelKey, { ...arrayOpts, dtype: 'uint8' }) : undefined;
    const mask = keys.maskKey ? await ZarrSliceWriter.create(keys.maskKey, { ...arrayOpts, dtype: 'uint8' }) : undefined;
    const stats = new StatsAccumulator(source.dtype);
    const fg = label ? new ForegroundIndexBuilder(source.shape) : undefined;

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
      options.onProgress?.(z, Z);
    }
    if (z !== Z) throw new ImportError(source.origin, `yielded ${z} slices, expected ${Z}`);
    await Promise.all([image.close(), label?.close(), mask?.close()]);
    if (fg) await putObject(`${keys.labelKey}/${FOREGROUND_OBJECT}`, JSON.stringify(fg.finish()), 'application/json');
    options.signal?.throwIfAborted();

    const volume = await db.$transaction(async (tx) => {
      const dataset = await tx.dataset.upsert({ where: { name: options.dataset }, create: { name: options.dataset }, update: {} });
      return tx.volume.create({
        data: {
          datasetId: dataset.id,
          name: source.name,
          role: options.role ?? 'train',
          ...keys,
          dtype: source.dtype,
          depth: Z,
          height: Y,
          width: X,
          voxelSizeUm: source.voxelSizeUm,
          stats: stats.finish() as object,
          contentHash,
          labelDensity: options.labelDensity ?? 1,
        },
      });
    });
    return { volume, created: true };
  } catch (e) {
    await deletePrefix(`${prefix}/`).catch(() => undefined);
    // A concurrent import of the same volume may have registered it first.
    if ((e as { code?: string }).code === 'P2002') {
      const again = await registered(options.dataset, source.name, contentHash);
      if (again) return again;
    }
    throw e;
  }
}

/** The row already holding this content in the dataset; a conflict when the name holds other content. */
async function registered(dataset: string, name: string, contentHash: string): Promise<ImportResult | null> {
  const rows = await prisma().volume.findMany({ where: { dataset: { name: dataset }, OR: [{ contentHash }, { name }] } });
  const same = rows.find((r) => r.contentHash === contentHash);
  if (same) return { volume: same, created: false };
  if (rows.length > 0) {
    throw new VolumeConflictError(name, `dataset ${dataset} already has a volume named ${name} with different content; delete it or import under another name`);
  }
  return null;
}

/**
 * Removes a registered volume: its row first (so no reader finds it), then its arrays in S3 unless
 * another volume still reads them (a pseudo-label dataset shares its source's image arrays).
 */
export async function deleteVolume(volume: Pick<Volume, 'id' | 'imageKey'>): Promise<void> {
  await prisma().volume.delete({ where: { id: volume.id } });
  if (await prisma().volume.count({ where: { imageKey: volume.imageKey } })) return;
  await deletePrefix(`${volume.imageKey.replace(/\/image$/, '')}/`);
}
