import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { VolumeRegistry } from '@capillary/registry';
import { rleEncode } from '@capillary/metric';
import { deletePrefix, listKeys } from '@capillary/storage';
import { openVolume } from '../store/zarr-volume.ts';
import { importVolume } from './import-volume.ts';
import { competitionFolder, multiPageTiff } from './sources.ts';

const hasStack = !!process.env.S3_ENDPOINT && !!process.env.DATABASE_URL;
if (!hasStack) console.warn('import tests skipped: no local stack (run without CAPILLARY_NO_STACK=1)');

const H = 20;
const W = 24;
const N = 5;
const pixel = (z: number, i: number) => (z * 7919 + i * 31) % 65536;

async function write16(file: string, z: number) {
  const a = new Uint16Array(H * W).map((_, i) => pixel(z, i));
  await sharp(a, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'lzw' }).toFile(file);
}
const labelOf = (z: number) => new Uint8Array(H * W).map((_, i) => ((i + z) % 5 === 0 ? 255 : 0));
async function write8(file: string, data: Uint8Array, h = H, w = W) {
  await sharp(data, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').tiff({ compression: 'lzw' }).toFile(file);
}

/** A competition-layout kidney folder of N slices; `name` is the folder (= volume) name. */
async function kidney(root: string, name: string): Promise<string> {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  mkdirSync(path.join(dir, 'labels'), { recursive: true });
  for (let z = 0; z < N; z++) {
    const f = `${String(z).padStart(4, '0')}.tif`;
    await write16(path.join(dir, 'images', f), z);
    await write8(path.join(dir, 'labels', f), labelOf(z));
  }
  return dir;
}

describe.runIf(hasStack)('importing volumes', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'capillary-import-'));
  const keyRoot = `test-import/${randomUUID()}`;
  const dataset = `test-import-${randomUUID().slice(0, 8)}`;
  const opts = { catalog: new VolumeRegistry(prisma()), dataset, keyRoot };

  beforeAll(async () => {
    await prisma().$connect();
  });
  afterAll(async () => {
    await prisma().dataset.deleteMany({ where: { name: dataset } });
    await deletePrefix(`${keyRoot}/`);
    rmSync(root, { recursive: true, force: true });
  });

  /** What an import may leave behind: objects under the test key root, the dataset row, its volumes. */
  const footprint = async () => ({
    keys: await listKeys(`${keyRoot}/`),
    dataset: !!(await prisma().dataset.findUnique({ where: { name: dataset } })),
    volumes: await prisma().volume.count({ where: { dataset: { name: dataset } } }),
  });

  /** Runs an import that must fail; returns its message after checking it left nothing behind. */
  async function failing(make: () => Promise<Parameters<typeof importVolume>[0]>): Promise<string> {
    const before = await footprint();
    let message = '';
    try {
      await importVolume(await make(), opts);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message, 'the import should have failed').not.toBe('');
    expect(await footprint()).toEqual(before);
    return message;
  }

  it('rejects a missing label slice, naming it', async () => {
    const dir = await kidney(root, 'k_missing');
    rmSync(path.join(dir, 'labels', '0003.tif'));
    expect(await failing(() => competitionFolder(dir))).toMatch(/labels\/0003\.tif: is missing/);
  });

  it('rejects a gap in slice numbers', async () => {
    const dir = await kidney(root, 'k_gap');
    rmSync(path.join(dir, 'images', '0002.tif'));
    expect(await failing(() => competitionFolder(dir))).toMatch(/gap in slice numbers: 0001\.tif is followed by 0003\.tif/);
  });

  it('rejects a label whose shape differs from its image, after cleaning up what it wrote', async () => {
    const dir = await kidney(root, 'k_shape');
    await write8(path.join(dir, 'labels', '0003.tif'), new Uint8Array((H - 1) * W), H - 1, W);
    const msg = await failing(() => competitionFolder(dir));
    expect(msg).toMatch(/labels\/0003\.tif: is 19x24 \(HxW\), expected 20x24/);
  });

  it('rejects a truncated TIFF in the middle of the volume', async () => {
    const dir = await kidney(root, 'k_trunc');
    const f = path.join(dir, 'images', '0003.tif');
    const bytes = readFileSync(f);
    writeFileSync(f, bytes.subarray(0, bytes.length - 30));
    expect(await failing(() => competitionFolder(dir))).toMatch(/images\/0003\.tif: truncated/);
  });

  it('rejects a file that is not a TIFF', async () => {
    const dir = await kidney(root, 'k_text');
    writeFileSync(path.join(dir, 'images', '0002.tif'), 'this is not an image\n');
    expect(await failing(() => competitionFolder(dir))).toMatch(/images\/0002\.tif: not a TIFF file/);
  });

  it('rejects a colour image where grayscale is expected', async () => {
    const dir = await kidney(root, 'k_colour');
    await sharp(new Uint8Array(H * W * 3).fill(100), { raw: { width: W, height: H, channels: 3 } }).tiff().toFile(path.join(dir, 'images', '0004.tif'));
    expect(await failing(() => competitionFolder(dir))).toMatch(/images\/0004\.tif: is a colour image \(3 samples per pixel\); expected grayscale/);
  });

  it('rejects a label TIFF with fewer pages than its image', async () => {
    const img = path.join(root, 'mp.tif');
    const lab = path.join(root, 'mp_label.tif');
    // A multi-page file: sharp writes pages when the image height is a multiple of pageHeight.
    await sharp(new Uint8Array(H * W * 3).fill(7), { raw: { width: W, height: H * 3, channels: 1, pageHeight: H } as never }).tiff().toFile(img);
    await sharp(new Uint8Array(H * W * 2).fill(255), { raw: { width: W, height: H * 2, channels: 1, pageHeight: H } as never }).tiff().toFile(lab);
    expect(await failing(() => multiPageTiff(img, lab))).toMatch(/mp_label\.tif: has 2 pages, the image .*mp\.tif has 3/);
  });

  it('imports a kidney folder exactly, registers it once, and re-importing is a no-op', async () => {
    const dir = await kidney(root, 'k_good');
    let last = 0;
    const first = await importVolume(await competitionFolder(dir), { ...opts, onProgress: (d) => (last = d) });
    expect(first.created).toBe(true);
    expect(last).toBe(N);
    const v = first.volume;
    expect([v.depth, v.height, v.width, v.dtype, v.name]).toEqual([N, H, W, 'uint16', 'k_good']);
    const reader = openVolume(v, { cache: null });
    const img = await reader.readImage('z', 0, N);
    const lab = await reader.readLabel('z', 0, N);
    for (let z = 0; z < N; z++) {
      for (let i = 0; i < H * W; i++) {
        expect(img[z * H * W + i]).toBe(pixel(z, i));
        expect(lab[z * H * W + i]).toBe(labelOf(z)[i] ? 1 : 0);
      }
    }
    expect((await reader.foregroundIndex()).counts.reduce((a, b) => a + b, 0)).toBe(lab.reduce((a, b) => a + b, 0));
    const keysBefore = await listKeys(`${keyRoot}/`);
    const again = await importVolume(await competitionFolder(dir), opts);
    expect(again.created).toBe(false);
    expect(again.volume.id).toBe(v.id);
    expect(await listKeys(`${keyRoot}/`)).toEqual(keysBefore);
    // Same name, other content: refused, nothing written.
    await write16(path.join(dir, 'images', '0000.tif'), 99);
    await expect(importVolume(await competitionFolder(dir), opts)).rejects.toThrow(/already has a volume named k_good with different content/);
    expect(await listKeys(`${keyRoot}/`)).toEqual(keysBefore);
    await new VolumeRegistry(prisma()).remove(v);
    expect(await listKeys(`${keyRoot}/`)).toEqual([]);
    expect(await prisma().volume.findUnique({ where: { id: v.id } })).toBeNull();
  });

  it('takes labels from an RLE CSV, and names a missing row', async () => {
    const dir = await kidney(root, 'k_rle');
    rmSync(path.join(dir, 'labels'), { recursive: true });
    const csv = path.join(root, 'rles.csv');
    const rows = Array.from({ length: N }, (_, z) => `k_rle_${String(z).padStart(4, '0')},${rleEncode(labelOf(z).map((v) => (v ? 1 : 0)))}`);
    writeFileSync(csv, `id,rle\n${rows.slice(0, 3).join('\n')}\n`);
    expect(await failing(() => competitionFolder(dir, { rleCsv: csv }))).toMatch(/rles\.csv: has no row for k_rle_0003/);
    writeFileSync(csv, `id,rle\n${rows.join('\n')}\nother_0000,1 5\n`);
    const { volume } = await importVolume(await competitionFolder(dir, { rleCsv: csv }), opts);
    const lab = await openVolume(volume, { cache: null }).readLabel('z', 2, 1);
    expect(Array.from(lab)).toEqual(Array.from(labelOf(2), (v) => (v ? 1 : 0)));
    await new VolumeRegistry(prisma()).remove(volume);
  });

  it('rejects a stray file among the slices', async () => {
    const dir = await kidney(root, 'k_name');
    copyFileSync(path.join(dir, 'images', '0000.tif'), path.join(dir, 'images', 'slice_a.tif'));
    expect(await failing(() => competitionFolder(dir))).toMatch(/slice_a\.tif: is not a slice file named NNNN\.tif/);
  });
});
