import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { syntheticSlices, type SyntheticOptions } from '../synthetic/synthetic.ts';
import type { VolumeDtype } from '../types.ts';
import { ImportError } from './errors.ts';
import { decodeColour, decodeGray, tiffInfo, tiffPages } from './tiff.ts';

/** One z slice as an importer reads it: image, and 0/1 label and mask where the source has them. */
export interface SourceSlice {
  image: Uint8Array | Uint16Array;
  label?: Uint8Array;
  mask?: Uint8Array;
}

/**
 * Something that can be imported as one volume: its shape is known up front (from headers), its
 * slices are decoded one at a time, each checked, and errors name the offending file.
 */
export interface VolumeSource {
  name: string;
  /** The folder or file it comes from, for messages. */
  origin: string;
  shape: [number, number, number];
  dtype: VolumeDtype;
  hasLabels: boolean;
  hasMask: boolean;
  voxelSizeUm: [number, number, number];
  /** sha256 over everything that makes up the volume (reads the source once). */
  contentHash(): Promise<string>;
  slices(): AsyncIterable<SourceSlice>;
}

const toBinary = (a: Uint8Array | Uint16Array): Uint8Array => {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] !== 0 ? 1 : 0;
  return out;
};

async function readInput(file: string): Promise<Uint8Array> {
  try {
    const b = await readFile(file);
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  } catch (e) {
    throw new ImportError(file, `cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/**
 * Reads files in order with the next one's read already under way (the read runs on libuv's thread
 * pool while the caller hashes or decodes the current one). One file ahead: memory stays at two files.
 */
async function* readAhead(files: string[]): AsyncGenerator<Uint8Array> {
  const start = (i: number) => {
    const p = readInput(files[i]);
    p.catch(() => undefined); // a read the caller never reaches (it stopped early) must not go unhandled
    return p;
  };
  let next = files.length ? start(0) : undefined;
  for (let i = 0; i < files.length; i++) {
    const buf = await next!;
    next = i + 1 < files.length ? start(i + 1) : undefined;
    yield buf;
  }
}

async function hashFiles(tagLine: string, files: (string | undefined)[], extra: string[] = []): Promise<string> {
  const h = createHash('sha256').update(`capillary-volume-v1\n${tagLine}\n`);
  const present = files.filter((f): f is string => !!f);
  let i = 0;
  for await (const buf of readAhead(present)) {
    h.update(`${path.basename(present[i++])}\n`);
    h.update(buf);
  }
  for (const e of extra) h.update(e);
  return h.digest('hex');
}

/** Reads one grayscale single-page TIFF, checking its shape. */
async function readGraySlice(file: string, expect: { height: number; width: number; reference: string }, bytes?: Uint8Array): Promise<Uint8Array | Uint16Array> {
  const buf = bytes ?? (await readInput(file));
  const [page] = tiffPages(buf, file);
  const info = tiffInfo(page);
  if (info.height !== expect.height || info.width !== expect.width) {
    throw new ImportError(file, `is ${info.height}x${info.width} (HxW), expected ${expect.height}x${expect.width} like ${expect.reference}`);
  }
  return decodeGray(buf, page, file);
}

export interface CompetitionFolderOptions {
  /** Labels from a competition RLE CSV (`id,rle`, ids `<kidney>_<NNNN>`) instead of `labels/`. */
  rleCsv?: string;
  /** Volume name (default: the folder's name, e.g. kidney_1_dense). */
  name?: string;
  voxelSizeUm?: number;
}

/**
 * A competition kidney folder: `images/NNNN.tif` (16-bit grayscale, one per z slice, numbered
 * without gaps) and `labels/NNNN.tif` (0/255) or an RLE CSV. Checks names, numbering and that every
 * image has its label before anything is written; each slice is checked again as it is decoded.
 */
export async function competitionFolder(dir: string, options: CompetitionFolderOptions = {}): Promise<VolumeSource> {
  const imagesDir = path.join(dir, 'images');
  if (!existsSync(imagesDir) || !statSync(imagesDir).isDirectory()) throw new ImportError(dir, 'has no images/ folder');
  const names = (await readdir(imagesDir)).filter((f) => !f.startsWith('.')).sort();
  if (names.length === 0) throw new ImportError(imagesDir, 'holds no slices');
  const numbers = names.map((f) => {
    const m = /^(\d+)\.tiff?$/i.exec(f);
    if (!m) throw new ImportError(path.join(imagesDir, f), 'is not a slice file named NNNN.tif');
    return Number(m[1]);
  });
  numbers.forEach((n, i) => {
    if (i > 0 && n !== numbers[i - 1] + 1) {
      throw new ImportError(imagesDir, `gap in slice numbers: ${names[i - 1]} is followed by ${names[i]}`);
    }
  });
  const name = options.name ?? path.basename(path.resolve(dir));
  const labelsDir = path.join(dir, 'labels');
  const useFolderLabels = !options.rleCsv && existsSync(labelsDir);
  if (useFolderLabels) {
    const labelNames = new Set(await readdir(labelsDir));
    for (const f of names) if (!labelNames.has(f)) throw new ImportError(path.join(labelsDir, f), `is missing: image ${path.join(imagesDir, f)} has no label slice`);
  }
  const first = path.join(imagesDir, names[0]);
  const firstBuf = await readInput(first);
  const [firstPage] = tiffPages(firstBuf, first);
  const info = tiffInfo(firstPage);
  const dtype: VolumeDtype = decodeGray(firstBuf, firstPage, first) instanceof Uint16Array ? 'uint16' : 'uint8';
  const { height, width } = info;
  const rles = options.rleCsv ? await rleRows(options.rleCsv, name, numbers, height * width) : undefined;
  const labelFile = (f: string) => (useFolderLabels ? path.join(labelsDir, f) : undefined);
  const vs = options.voxelSizeUm ?? 50;

  return {
    name,
    origin: dir,
    shape: [names.length, height, width],
    dtype,
    hasLabels: useFolderLabels || !!rles,
    hasMask: false,
    voxelSizeUm: [vs, vs, vs],
    contentHash: () =>
      hashFiles(
        `competition ${dtype}`,
        names.flatMap((f) => [path.join(imagesDir, f), labelFile(f)]),
        rles ? numbers.map((n) => `${n}:${rles.rows.get(n)}\n`) : [],
      ),
    async *slices() {
      const expect = { height, width, reference: first };
      const images = readAhead(names.map((f) => path.join(imagesDir, f)));
      const labels = useFolderLabels ? readAhead(names.map((f) => labelFile(f)!)) : undefined;
      for (let i = 0; i < names.length; i++) {
        const file = path.join(imagesDir, names[i]);
        const image = await readGraySlice(file, expect, (await images.next()).value as Uint8Array);
        if ((image instanceof Uint16Array ? 'uint16' : 'uint8') !== dtype) {
          throw new ImportError(file, `is ${image instanceof Uint16Array ? 16 : 8}-bit, expected ${dtype === 'uint16' ? 16 : 8}-bit like ${first}`);
        }
        let label: Uint8Array | undefined;
        const lf = labelFile(names[i]);
        if (lf) label = toBinary(await readGraySlice(lf, { ...expect, reference: `image ${file}` }, (await labels!.next()).value as Uint8Array));
        else if (rles) label = await rles.decode(numbers[i]);
        yield { image, label };
      }
    },
  };
}

/** This kidney's rows of an RLE CSV, checked to cover every slice. */
async function rleRows(csv: string, kidney: string, numbers: number[], pixels: number) {
  const { csvRows } = await import('@capillary/metric');
  const { rleDecodeInto, RleError, ScoringInputError } = await import('@capillary/metric');
  const rows = new Map<number, string>();
  const prefix = `${kidney}_`;
  try {
    for await (const { fields } of csvRows(csv, ['id', 'rle'])) {
      const id = fields.id.trim();
      if (!id.startsWith(prefix)) continue;
      const n = Number(id.slice(prefix.length));
      if (Number.isInteger(n)) rows.set(n, fields.rle);
    }
  } catch (e) {
    if (e instanceof ScoringInputError) throw new ImportError(csv, e.message.replace(`${csv}: `, ''));
    throw e;
  }
  for (const n of numbers) {
    if (!rows.has(n)) throw new ImportError(csv, `has no row for ${prefix}${String(n).padStart(4, '0')}`);
  }
  return {
    rows,
    async decode(n: number): Promise<Uint8Array> {
      try {
        return rleDecodeInto(rows.get(n)!, new Uint8Array(pixels));
      } catch (e) {
        if (e instanceof RleError) throw new ImportError(csv, `row ${prefix}${String(n).padStart(4, '0')}: ${e.message}`);
        throw e;
      }
    },
  };
}

/**
 * A multi-page TIFF volume with an optional multi-page label TIFF of the same shape (vesselNN):
 * every page is one z slice; labels are 0/non-zero at 8 or 16 bit.
 */
export async function multiPageTiff(imageFile: string, labelFile?: string, options: { name?: string; voxelSizeUm?: [number, number, number] } = {}): Promise<VolumeSource> {
  const imgBuf = await readInput(imageFile);
  const pages = tiffPages(imgBuf, imageFile);
  const info = tiffInfo(pages[0]);
  pages.forEach((p, i) => {
    const pi = tiffInfo(p);
    if (pi.width !== info.width || pi.height !== info.height) throw new ImportError(imageFile, `page ${i} is ${pi.height}x${pi.width}, page 0 is ${info.height}x${info.width}`);
  });
  let labelPages: ReturnType<typeof tiffPages> | undefined;
  let labBuf: Uint8Array | undefined;
  if (labelFile) {
    labBuf = await readInput(labelFile);
    labelPages = tiffPages(labBuf, labelFile);
    if (labelPages.length !== pages.length) throw new ImportError(labelFile, `has ${labelPages.length} pages, the image ${imageFile} has ${pages.length}`);
    labelPages.forEach((p, i) => {
      const li = tiffInfo(p);
      if (li.width !== info.width || li.height !== info.height) {
        throw new ImportError(labelFile, `page ${i} is ${li.height}x${li.width}, the image ${imageFile} is ${info.height}x${info.width}`);
      }
    });
  }
  const dtype: VolumeDtype = info.bitsPerSample === 16 ? 'uint16' : 'uint8';
  decodeGray(imgBuf, pages[0], `${imageFile} (page 0)`); // a colour or odd-depth file fails before anything is written
  return {
    name: options.name ?? path.basename(imageFile).replace(/\.tiff?$/i, ''),
    origin: imageFile,
    shape: [pages.length, info.height, info.width],
    dtype,
    hasLabels: !!labelFile,
    hasMask: false,
    voxelSizeUm: options.voxelSizeUm ?? [1, 1, 1],
    contentHash: () => hashFiles(`multipage ${dtype}`, [imageFile, labelFile]),
    async *slices() {
      for (let i = 0; i < pages.length; i++) {
        const image = decodeGray(imgBuf, pages[i], `${imageFile} (page ${i})`);
        if ((image instanceof Uint16Array ? 'uint16' : 'uint8') !== dtype) throw new ImportError(imageFile, `page ${i} has a different bit depth from page 0`);
        const label = labelPages ? toBinary(decodeGray(labBuf!, labelPages[i], `${labelFile} (page ${i})`)) : undefined;
        yield { image, label };
      }
    },
  };
}

/** A 0/1 mask from a GIF/PNG/TIFF mask image (any non-zero grey is 1), checked against a size. */
async function readMaskImage(file: string, height: number, width: number, reference: string): Promise<Uint8Array> {
  let out: { data: Buffer; info: { width: number; height: number } };
  try {
    out = await sharp(file).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImportError(file, `cannot decode image (${(e as Error).message})`);
  }
  if (out.info.height !== height || out.info.width !== width) {
    throw new ImportError(file, `is ${out.info.height}x${out.info.width} (HxW), expected ${height}x${width} like ${reference}`);
  }
  return toBinary(new Uint8Array(out.data.buffer, out.data.byteOffset, height * width));
}

/**
 * One DRIVE retinal image as a volume of depth 1: the green channel of the RGB TIFF (the channel
 * with the best vessel contrast, stored exactly), the manual vessel mask as labels (when given) and
 * the field-of-view mask as the volume's mask.
 */
export async function driveImage(imageFile: string, fovMaskFile: string, manualFile?: string, options: { name?: string } = {}): Promise<VolumeSource> {
  const buf = await readInput(imageFile);
  const [page] = tiffPages(buf, imageFile);
  const { width, height } = tiffInfo(page);
  return {
    name: options.name ?? path.basename(imageFile).replace(/\.tiff?$/i, ''),
    origin: imageFile,
    shape: [1, height, width],
    dtype: 'uint8',
    hasLabels: !!manualFile,
    hasMask: true,
    voxelSizeUm: [1, 1, 1],
    contentHash: () => hashFiles('drive green', [imageFile, manualFile, fovMaskFile]),
    async *slices() {
      const { data, samples } = decodeColour(buf, page, imageFile);
      const image = new Uint8Array(width * height);
      for (let i = 0; i < image.length; i++) image[i] = data[i * samples + 1];
      const label = manualFile ? await readMaskImage(manualFile, height, width, imageFile) : undefined;
      const mask = await readMaskImage(fovMaskFile, height, width, imageFile);
      yield { image, label, mask };
    },
  };
}

/**
 * The DRIVE folder (`training/{images,1st_manual,mask}`, `test/{images,mask}`): one source per
 * image, training images labelled, test images with their field-of-view masks only.
 */
export async function driveFolder(dir: string): Promise<{ source: VolumeSource; split: 'training' | 'test' }[]> {
  const out: { source: VolumeSource; split: 'training' | 'test' }[] = [];
  for (const split of ['training', 'test'] as const) {
    const imagesDir = path.join(dir, split, 'images');
    if (!existsSync(imagesDir)) continue;
    for (const f of (await readdir(imagesDir)).filter((n) => /\.tiff?$/i.test(n)).sort()) {
      const id = f.split('_')[0];
      const mask = path.join(dir, split, 'mask', `${id}_${split}_mask.gif`);
      if (!existsSync(mask)) throw new ImportError(mask, `is missing: image ${path.join(imagesDir, f)} has no field-of-view mask`);
      let manual: string | undefined;
      if (split === 'training') {
        manual = path.join(dir, split, '1st_manual', `${id}_manual1.gif`);
        if (!existsSync(manual)) throw new ImportError(manual, `is missing: image ${path.join(imagesDir, f)} has no manual vessel mask`);
      }
      out.push({ split, source: await driveImage(path.join(imagesDir, f), mask, manual, { name: `drive_${id}_${split}` }) });
    }
  }
  if (out.length === 0) throw new ImportError(dir, 'holds no DRIVE images (expected training/images/*.tif or test/images/*.tif)');
  return out;
}

/** Bumped whenever the synthetic generator's output changes, so content hashes change with it. */
export const SYNTHETIC_GENERATOR_VERSION = 1;

/** A synthetic kidney streamed slice by slice (any size). */
export function syntheticSource(options: SyntheticOptions & { name?: string; voxelSizeUm?: number }): VolumeSource {
  const { name, voxelSizeUm, ...gen } = options;
  const vs = voxelSizeUm ?? 50;
  return {
    name: name ?? `synthetic_${gen.seed}_${gen.shape.join('x')}`,
    origin: `synthetic(seed ${gen.seed})`,
    shape: gen.shape,
    dtype: 'uint16',
    hasLabels: true,
    hasMask: false,
    voxelSizeUm: [vs, vs, vs],
    contentHash: async () =>
      createHash('sha256').update(stableJson({ generator: SYNTHETIC_GENERATOR_VERSION, ...gen })).digest('hex'),
    async *slices() {
      for (const s of syntheticSlices(gen)) yield { image: s.image, label: s.label };
    },
  };
}

/** JSON with object keys sorted, so equal options hash equally whatever their order. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
