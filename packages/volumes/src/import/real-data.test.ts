import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { firstDifference } from '../test-helpers.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { VolumeRegistry } from '@capillary/registry';
import { deletePrefix } from '@capillary/storage';
import { openVolume } from '../store/zarr-volume.ts';
import { importVolume } from './import-volume.ts';
import { competitionFolder, driveFolder, driveImage, multiPageTiff } from './sources.ts';

const DATA = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared/data');
const hasData = existsSync(path.join(DATA, 'vesselnn')) && existsSync(path.join(DATA, 'drive'));
const hasStack = !!process.env.S3_ENDPOINT && !!process.env.DATABASE_URL;
if (!hasData) console.warn(`real-data import tests skipped: ${DATA} is absent`);
else if (!hasStack) console.warn('real-data import tests skipped: no local stack (run without CAPILLARY_NO_STACK=1)');

/** Pages of a TIFF decoded by sharp (libvips/libtiff), independent of the importer's decoder. */
async function sharpPage(file: string, page: number): Promise<Uint8Array | Uint16Array> {
  const img = sharp(file, { page });
  const meta = await img.metadata();
  if (meta.depth === 'ushort') {
    const b = await img.toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer();
    return new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
  }
  return new Uint8Array(await img.extractChannel(0).raw().toBuffer());
}

describe.runIf(hasData && hasStack)('importing the real data sets', () => {
  const keyRoot = `test-real/${randomUUID()}`;
  const dataset = `test-real-${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    await prisma().dataset.deleteMany({ where: { name: dataset } });
    await deletePrefix(`${keyRoot}/`);
  });

  it('stores every vesselNN volume bit-identically (8-bit images, 8- and 16-bit labels)', async () => {
    const dir = path.join(DATA, 'vesselnn');
    for (const f of readdirSync(path.join(dir, 'images')).sort()) {
      const imgFile = path.join(dir, 'images', f);
      const labFile = path.join(dir, 'labels', f);
      const { volume } = await importVolume(await multiPageTiff(imgFile, labFile), { catalog: new VolumeRegistry(prisma()), dataset, keyRoot });
      const reader = openVolume(volume, { cache: null });
      const [Z, Y, X] = reader.shape;
      expect((await sharp(imgFile).metadata()).pages).toBe(Z);
      for (let z = 0; z < Z; z++) {
        const want = await sharpPage(imgFile, z);
        expect(want.length).toBe(Y * X);
        expect(firstDifference(await reader.readImage('z', z, 1), want), `${f} image slice ${z}`).toBe('equal');
        const wantLabel = Uint8Array.from(await sharpPage(labFile, z), (v) => (v ? 1 : 0));
        expect(firstDifference(await reader.readLabel('z', z, 1), wantLabel), `${f} label slice ${z}`).toBe('equal');
      }
    }
  });

  it('stores DRIVE images as depth-1 volumes: green channel, vessel labels, FOV mask', async () => {
    const all = await driveFolder(path.join(DATA, 'drive'));
    expect(all.filter((s) => s.split === 'training')).toHaveLength(20);
    expect(all.filter((s) => s.split === 'test').every((s) => !s.source.hasLabels && s.source.hasMask)).toBe(true);
    const d = path.join(DATA, 'drive', 'training');
    const source = await driveImage(path.join(d, 'images', '21_training.tif'), path.join(d, 'mask', '21_training_mask.gif'), path.join(d, '1st_manual', '21_manual1.gif'));
    const { volume } = await importVolume(source, { catalog: new VolumeRegistry(prisma()), dataset, keyRoot });
    expect([volume.depth, volume.height, volume.width, volume.dtype]).toEqual([1, 584, 565, 'uint8']);
    const reader = openVolume(volume, { cache: null });
    const green = await sharp(path.join(d, 'images', '21_training.tif')).extractChannel(1).raw().toBuffer();
    expect(firstDifference(await reader.readImage('z', 0, 1), new Uint8Array(green))).toBe('equal');
    const manual = await sharp(path.join(d, '1st_manual', '21_manual1.gif')).extractChannel(0).raw().toBuffer();
    expect(firstDifference(await reader.readLabel('z', 0, 1), Uint8Array.from(manual, (v) => (v ? 1 : 0)))).toBe('equal');
    const fov = await sharp(path.join(d, 'mask', '21_training_mask.gif')).extractChannel(0).raw().toBuffer();
    expect(firstDifference(await reader.readMask('z', 0, 1), Uint8Array.from(fov, (v) => (v ? 1 : 0)))).toBe('equal');
  });
});

const KIDNEY5 = path.join(DATA, 'hipct-kidney5');
if (!existsSync(KIDNEY5)) console.warn(`HiP-CT kidney slice import test skipped: ${KIDNEY5} is absent`);

describe.runIf(existsSync(KIDNEY5) && hasStack)('importing real HiP-CT kidney slices', () => {
  const keyRoot = `test-real-kidney/${randomUUID()}`;
  const dataset = `test-real-kidney-${randomUUID().slice(0, 8)}`;
  const root = mkdtempSync(path.join(tmpdir(), 'capillary-kidney5-'));
  afterAll(async () => {
    await prisma().dataset.deleteMany({ where: { name: dataset } });
    await deletePrefix(`${keyRoot}/`);
    rmSync(root, { recursive: true, force: true });
  });

  it('stores the 1303 x 912 uint16 slices bit-identically as a competition folder (linked, not copied)', async () => {
    const dir = path.join(root, 'kidney_5_slices');
    mkdirSync(path.join(dir, 'images'), { recursive: true });
    const files = readdirSync(KIDNEY5).filter((f) => /^\d+\.tif$/.test(f)).sort();
    for (const f of files) symlinkSync(path.join(KIDNEY5, f), path.join(dir, 'images', f));
    const { volume } = await importVolume(await competitionFolder(dir), { catalog: new VolumeRegistry(prisma()), dataset, keyRoot, chunkShape: [32, 128, 128] });
    expect([volume.depth, volume.height, volume.width, volume.dtype]).toEqual([files.length, 1303, 912, 'uint16']);
    const reader = openVolume(volume, { cache: null });
    for (const [z, f] of files.entries()) {
      expect(firstDifference(await reader.readImage('z', z, 1), await sharpPage(path.join(KIDNEY5, f), 0)), f).toBe('equal');
    }
  });
});
