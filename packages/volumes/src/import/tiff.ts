import UTIF from 'utif2';
import { ImportError } from './errors.ts';

/** One image of a TIFF file (an IFD), before its pixels are decoded. */
export type TiffPage = UTIF.IFD;

const tag = (ifd: TiffPage, t: number): number[] | undefined => ifd[`t${t}`] as number[] | undefined;

/**
 * Parses a TIFF file's pages, checking it is a TIFF and that every strip or tile lies inside the
 * file (a truncated file fails here, naming the file, instead of decoding to garbage).
 */
export function tiffPages(buf: Uint8Array, file: string): TiffPage[] {
  const magic = buf.length >= 4 ? String.fromCharCode(buf[0], buf[1]) : '';
  const version = magic === 'II' ? buf[2] | (buf[3] << 8) : magic === 'MM' ? (buf[2] << 8) | buf[3] : -1;
  if (version !== 42) throw new ImportError(file, 'not a TIFF file (no TIFF header)');
  checkIfdChain(buf, magic === 'II', file);
  let ifds: TiffPage[];
  try {
    ifds = UTIF.decode(toArrayBuffer(buf));
  } catch (e) {
    throw new ImportError(file, `cannot parse TIFF (${(e as Error).message}); is the file truncated?`);
  }
  const pages = ifds.filter((d) => tag(d, 256) && tag(d, 257));
  if (pages.length === 0) throw new ImportError(file, 'TIFF holds no image');
  pages.forEach((p, i) => {
    const offsets = tag(p, 273) ?? tag(p, 324);
    const counts = tag(p, 279) ?? tag(p, 325);
    if (!offsets || !counts) throw new ImportError(file, `page ${i} has no strip or tile offsets`);
    for (let s = 0; s < offsets.length; s++) {
      const end = offsets[s] + (counts[s] ?? 0);
      if (end > buf.length) throw new ImportError(file, `truncated: page ${i} needs ${end} bytes, the file has ${buf.length}`);
    }
  });
  return pages;
}

export interface TiffInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  samplesPerPixel: number;
}

export function tiffInfo(page: TiffPage): TiffInfo {
  return {
    width: tag(page, 256)![0],
    height: tag(page, 257)![0],
    bitsPerSample: tag(page, 258)?.[0] ?? 1,
    samplesPerPixel: tag(page, 277)?.[0] ?? 1,
  };
}

/** Decodes a grayscale 8- or 16-bit page exactly; a colour page is an error naming the file. */
export function decodeGray(buf: Uint8Array, page: TiffPage, file: string): Uint8Array | Uint16Array {
  const info = tiffInfo(page);
  const photometric = tag(page, 262)?.[0];
  if (info.samplesPerPixel > 1 || photometric === 2 || photometric === 3) {
    throw new ImportError(file, `is a colour image (${info.samplesPerPixel} samples per pixel); expected grayscale`);
  }
  if (info.bitsPerSample !== 8 && info.bitsPerSample !== 16) {
    throw new ImportError(file, `has ${info.bitsPerSample}-bit samples; expected 8 or 16 bit grayscale`);
  }
  const data = decodePixels(buf, page, file, info);
  // utif2 leaves 16-bit samples little-endian whatever the file's byte order.
  return info.bitsPerSample === 8 ? data : new Uint16Array(data.buffer, data.byteOffset, info.width * info.height);
}

/** Decodes an 8-bit RGB(A) page; returns interleaved samples and their count per pixel. */
export function decodeColour(buf: Uint8Array, page: TiffPage, file: string): { data: Uint8Array; samples: number } {
  const info = tiffInfo(page);
  if (info.samplesPerPixel < 3 || info.bitsPerSample !== 8) {
    throw new ImportError(file, `is not an 8-bit colour image (${info.samplesPerPixel} x ${info.bitsPerSample}-bit samples)`);
  }
  if ((tag(page, 284)?.[0] ?? 1) !== 1) throw new ImportError(file, 'planar colour TIFFs are not supported; expected interleaved RGB');
  return { data: decodePixels(buf, page, file, info), samples: info.samplesPerPixel };
}

function decodePixels(buf: Uint8Array, page: TiffPage, file: string, info: TiffInfo): Uint8Array {
  try {
    UTIF.decodeImage(toArrayBuffer(buf), page);
  } catch (e) {
    throw new ImportError(file, `cannot decode image data (${(e as Error).message})`);
  }
  const need = info.width * info.height * info.samplesPerPixel * (info.bitsPerSample / 8);
  const data = page.data;
  if (!data || data.length < need) throw new ImportError(file, `image data is short: ${data?.length ?? 0} of ${need} bytes; is the file truncated?`);
  // Copy into an aligned buffer of exactly the image (utif2's buffer may be larger or offset).
  return new Uint8Array(data.subarray(0, need));
}

function toArrayBuffer(buf: Uint8Array): ArrayBuffer {
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength
    ? (buf.buffer as ArrayBuffer)
    : (buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/**
 * Walks the chain of image directories and checks that each directory and every value it points to
 * lies inside the file: libtiff-style files keep their directory at the end, so a cut-off copy
 * loses it (or its tag values) while the pixel strips still look complete.
 */
function checkIfdChain(buf: Uint8Array, le: boolean, file: string): void {
  const u16 = (o: number) => (le ? buf[o] | (buf[o + 1] << 8) : (buf[o] << 8) | buf[o + 1]);
  const u32 = (o: number) => (le ? (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16)) + buf[o + 3] * 2 ** 24 : buf[o] * 2 ** 24 + ((buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]));
  const truncated = (what: string, end: number) => new ImportError(file, `truncated: ${what} ends at byte ${end}, the file has ${buf.length}`);
  let offset = u32(4);
  for (let page = 0; offset !== 0; page++) {
    if (page > 100_000) throw new ImportError(file, 'TIFF directory chain loops');
    if (offset + 2 > buf.length) throw truncated(`directory ${page}`, offset + 2);
    const n = u16(offset);
    const end = offset + 2 + n * 12 + 4;
    if (end > buf.length) throw truncated(`directory ${page}`, end);
    for (let e = 0; e < n; e++) {
      const entry = offset + 2 + e * 12;
      const bytes = (TYPE_SIZE[u16(entry + 2)] ?? 1) * u32(entry + 4);
      if (bytes > 4 && u32(entry + 8) + bytes > buf.length) throw truncated(`tag ${u16(entry)} of directory ${page}`, u32(entry + 8) + bytes);
    }
    offset = u32(end - 4);
  }
}
