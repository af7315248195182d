import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { VolumeReader } from '../types.ts';
import { ZarrVolume, type ZarrVolumeOptions } from './zarr-volume.ts';

export type SliceFormat = 'png' | 'tiff';

export interface ExportSlicesOptions {
  outDir: string;
  /** First z slice (default 0) and one past the last (default: depth). */
  from?: number;
  to?: number;
  format?: SliceFormat;
  /** Which array: the mask-like ones (label, mask) are written 0/255, the image as stored. */
  which?: 'image' | 'label' | 'mask';
  /** Write the image as a 0/255 mask too (a predicted mask stored as a uint8 0/1 image array). */
  binary?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes z slices of a volume as files `NNNN.png` / `NNNN.tif` (the competition's numbering), one
 * slice in memory at a time. 16-bit images stay 16-bit (grey16); masks become 8-bit 0/255.
 * Returns the files written.
 */
export async function exportSlices(reader: VolumeReader, options: ExportSlicesOptions): Promise<string[]> {
  const [Z, Y, X] = reader.shape;
  const from = options.from ?? 0;
  const to = options.to ?? Z;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > Z || from >= to) {
    throw new RangeError(`slice range ${from}..${to} is outside volume ${reader.id} of depth ${Z}`);
  }
  const which = options.which ?? 'label';
  const format = options.format ?? 'png';
  await mkdir(options.outDir, { recursive: true });
  const files: string[] = [];
  for (let z = from; z < to; z++) {
    let data: Uint8Array | Uint16Array;
    if (which === 'label') data = await reader.readLabel('z', z, 1);
    else if (which === 'mask') {
      if (!reader.readMask) throw new Error(`volume ${reader.id} has no mask`);
      data = await reader.readMask('z', z, 1);
    } else data = await reader.readImage('z', z, 1);
    const asMask = which !== 'image' || options.binary;
    let img: ReturnType<typeof sharp>;
    if (asMask) {
      const m = new Uint8Array(data.length);
      for (let i = 0; i < m.length; i++) m[i] = data[i] ? 255 : 0;
      img = sharp(m, { raw: { width: X, height: Y, channels: 1 } }).toColourspace('b-w');
    } else if (data instanceof Uint16Array) {
      img = sharp(data, { raw: { width: X, height: Y, channels: 1 } }).toColourspace('grey16');
    } else {
      img = sharp(data, { raw: { width: X, height: Y, channels: 1 } }).toColourspace('b-w');
    }
    const file = path.join(options.outDir, `${String(z).padStart(4, '0')}.${format === 'png' ? 'png' : 'tif'}`);
    // Lossless only: sharp's TIFF default is JPEG.
    await (format === 'png' ? img.png() : img.tiff({ compression: 'lzw' })).toFile(file);
    files.push(file);
    options.onProgress?.(z - from + 1, to - from);
  }
  return files;
}

/**
 * A reader over a bare uint8 Zarr array in S3 (e.g. a predicted mask a worker wrote), exposed as a
 * volume whose image is that array.
 */
export function openMaskArray(key: string, shape: [number, number, number], options?: ZarrVolumeOptions): ZarrVolume {
  return new ZarrVolume(
    { id: key, imageKey: key, dtype: 'uint8', depth: shape[0], height: shape[1], width: shape[2], stats: { p005: 0, p995: 1, mean: 0, std: 0, foregroundFraction: null } },
    options,
  );
}
