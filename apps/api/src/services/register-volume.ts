import { getObject } from '@capillary/storage';
import { StatsAccumulator, ZarrVolume } from '@capillary/volumes';
import { badField } from './errors.ts';

interface ArrayMeta {
  shape: [number, number, number];
  dtype: 'uint8' | 'uint16';
}

/** Shape and dtype of a Zarr v3 array in S3, or a 400 naming the field that points at it. */
export async function readArrayMeta(key: string, field: string): Promise<ArrayMeta> {
  const bytes = await getObject(`${key.replace(/\/$/, '')}/zarr.json`);
  if (!bytes) throw badField(field, `no Zarr array at "${key}" (no zarr.json)`);
  let meta: { zarr_format?: number; shape?: number[]; data_type?: string };
  try {
    meta = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw badField(field, `"${key}/zarr.json" is not JSON`);
  }
  if (meta.zarr_format !== 3 || meta.shape?.length !== 3 || !['uint8', 'uint16'].includes(meta.data_type ?? '')) {
    throw badField(field, `must be a 3D uint8 or uint16 Zarr v3 array, found format ${meta.zarr_format}, shape [${meta.shape}], ${meta.data_type}`);
  }
  return { shape: meta.shape as [number, number, number], dtype: meta.data_type as ArrayMeta['dtype'] };
}

/**
 * Streams the image (and labels) once, slice by slice, for the statistics every read normalises
 * with: the same numbers the importer computes.
 */
export async function computeVolumeStats(imageKey: string, labelKey: string | null, meta: ArrayMeta) {
  const [Z, Y, X] = meta.shape;
  const reader = new ZarrVolume({ id: imageKey, imageKey, labelKey, dtype: meta.dtype, depth: Z, height: Y, width: X, stats: {} }, { cache: null, memoryCacheMB: 0 });
  const acc = new StatsAccumulator(meta.dtype);
  for (let z = 0; z < Z; z++) {
    acc.addImage(await reader.readImage('z', z, 1));
    if (labelKey) acc.addLabel(await reader.readLabel('z', z, 1));
  }
  return acc.finish();
}
