import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prisma } from '@capillary/db';
import { VolumeRegistry } from '@capillary/registry';
import { deletePrefix, getObject, importManifestKey, listKeys, s3Client, volumePrefix } from '@capillary/storage';
import { ImportInterruptedError } from './errors.ts';
import { importVolume, type ImportOptions } from './import-volume.ts';
import { importId } from './resume.ts';
import { competitionFolder } from './sources.ts';

const hasStack = !!process.env.S3_ENDPOINT && !!process.env.DATABASE_URL;
if (!hasStack) console.warn('import resume tests skipped: no local stack (run without CAPILLARY_NO_STACK=1)');

// 40 slices in chunks of 8 x 16 x 16: 5 slabs of 3 x 3 chunks, image and labels.
const [N, H, W] = [40, 40, 48];
const CHUNK: [number, number, number] = [8, 16, 16];
const SLABS = 5;
const CHUNKS_PER_SLAB = 2 * 3 * 3;

/** A competition folder of N uint16 slices with labels, all different. */
async function kidney(dir: string): Promise<string> {
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  mkdirSync(path.join(dir, 'labels'), { recursive: true });
  for (let z = 0; z < N; z++) {
    const f = `${String(z).padStart(4, '0')}.tif`;
    const img = new Uint16Array(H * W).map((_, i) => (z * 7919 + i * 131 + ((i * i) % 977)) % 65536);
    await sharp(img, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').tiff().toFile(path.join(dir, 'images', f));
    const lab = new Uint8Array(H * W).map((_, i) => ((i + 3 * z) % 7 === 0 ? 255 : 0));
    await sharp(lab, { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').tiff().toFile(path.join(dir, 'labels', f));
  }
  return dir;
}

/** Watches the real S3 client's PutObject calls (keys, and how many chunk PUTs run at once); `fail` makes one fail as an outage would. */
function watchPuts(fail?: (key: string) => boolean) {
  const name = `watch-${randomUUID()}`;
  const w = { keys: [] as string[], inFlight: 0, maxInFlight: 0, stop: () => s3Client().middlewareStack.remove(name) };
  s3Client().middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PutObjectCommand') return next(args);
      const key = (args.input as { Key: string }).Key;
      if (fail?.(key)) throw Object.assign(new Error(`connect ECONNREFUSED (injected for ${key})`), { code: 'ECONNREFUSED' });
      w.keys.push(key);
      if (!key.includes('/c/')) return next(args);
      w.maxInFlight = Math.max(w.maxInFlight, ++w.inFlight);
      try {
        return await next(args);
      } finally {
        w.inFlight--;
      }
    },
    { step: 'initialize', name },
  );
  return w;
}

/** Every object under a prefix, keyed by its path below it. */
async function objects(prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const k of await listKeys(`${prefix}/`)) out.set(k.slice(prefix.length), Buffer.from((await getObject(k))!));
  return out;
}

const prefixOf = (imageKey: string) => imageKey.replace(/\/image$/, '');
const chunkSlab = (key: string) => Number(/\/(?:image|label)\/c\/(\d+)\//.exec(key)?.[1] ?? NaN);

describe.runIf(hasStack)('resuming an interrupted import', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'capillary-resume-'));
  const keyRoot = `test-resume/${randomUUID()}`;
  const tag = randomUUID().slice(0, 8);
  const datasets: string[] = [];
  const opts = (name: string): ImportOptions => {
    datasets.push(`test-resume-${name}-${tag}`);
    return { catalog: new VolumeRegistry(prisma()), dataset: datasets.at(-1)!, keyRoot, chunkShape: CHUNK, concurrency: 4 };
  };
  let dir = '';
  let reference: Map<string, Buffer>;

  beforeAll(async () => {
    dir = await kidney(path.join(root, 'kidney_t'));
    const puts = watchPuts();
    try {
      const { volume } = await importVolume(await competitionFolder(dir), opts('reference'));
      reference = await objects(prefixOf(volume.imageKey));
      expect(puts.keys.filter((k) => k.includes('/c/'))).toHaveLength(SLABS * CHUNKS_PER_SLAB);
      // Chunk uploads overlap, and never more than the limit allows.
      expect(puts.maxInFlight).toBeGreaterThan(1);
      expect(puts.maxInFlight).toBeLessThanOrEqual(4);
    } finally {
      puts.stop();
    }
  });
  afterAll(async () => {
    await prisma().dataset.deleteMany({ where: { name: { in: datasets } } });
    await deletePrefix(`${keyRoot}/`);
    rmSync(root, { recursive: true, force: true });
  });

  /** Resumes an import that stopped with `slabsDone` slabs stored; checks what it uploaded and the result. */
  async function resume(o: ImportOptions, slabsDone: number, partlyStoredSlab?: number) {
    const puts = watchPuts();
    let resumedSlices = -1;
    try {
      const { volume, created } = await importVolume(await competitionFolder(dir), { ...o, onProgress: (_d, _t, info) => (resumedSlices = info.resumedSlices) });
      expect(created).toBe(true);
      expect(resumedSlices).toBe(slabsDone * CHUNK[0]);
      const chunkPuts = puts.keys.filter((k) => k.includes('/c/'));
      expect(chunkPuts.filter((k) => chunkSlab(k) < slabsDone), 'finished slabs uploaded again').toEqual([]);
      expect(chunkPuts).toHaveLength((SLABS - slabsDone) * CHUNKS_PER_SLAB);
      if (partlyStoredSlab !== undefined) expect(chunkPuts.filter((k) => chunkSlab(k) === partlyStoredSlab)).toHaveLength(CHUNKS_PER_SLAB);
      const got = await objects(prefixOf(volume.imageKey));
      expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
      for (const [k, bytes] of reference) expect(got.get(k)!.equals(bytes), `${k} differs from the uninterrupted import`).toBe(true);
      return volume;
    } finally {
      puts.stop();
    }
  }

  it('resumes after an abort part-way without uploading the finished slabs again, to the same bytes', async () => {
    const o = opts('abort');
    const stop = new AbortController();
    const err = await importVolume(await competitionFolder(dir), { ...o, signal: stop.signal, onProgress: (d) => d === 21 && stop.abort(new Error('Ctrl-C')) }).catch((e) => e);
    expect(err).toBeInstanceOf(ImportInterruptedError);
    expect(err.message).toMatch(/kidney_t: import stopped \(Ctrl-C\) with \d of 5 chunk slabs stored; run the same import again to resume/);
    const { slabsDone } = err as ImportInterruptedError;
    // Slabs 0 and 1 were complete at slice 21; slab 1 may have been still uploading when it stopped.
    expect(slabsDone).toBeGreaterThanOrEqual(1);
    expect(slabsDone).toBeLessThanOrEqual(2);
    expect(await prisma().volume.count({ where: { dataset: { name: o.dataset } } }), 'no row before everything is stored').toBe(0);
    expect(await prisma().dataset.count({ where: { name: o.dataset } })).toBe(0);
    const volume = await resume(o, slabsDone);
    // And once registered, running it again is a no-op.
    const again = await importVolume(await competitionFolder(dir), o);
    expect([again.created, again.volume.id]).toEqual([false, volume.id]);
  });

  it('after an S3 failure in the middle of a slab, uploads that whole slab again and nothing before it', async () => {
    const o = opts('outage');
    let seen = 0;
    // The fifth chunk PUT of slab 3 fails: its first chunks are stored, the slab is not complete.
    const puts = watchPuts((key) => chunkSlab(key) === 3 && ++seen >= 5);
    const err = await importVolume(await competitionFolder(dir), o)
      .catch((e) => e)
      .finally(() => puts.stop());
    expect(err).toBeInstanceOf(ImportInterruptedError);
    expect(err.message).toMatch(/ECONNREFUSED \(injected/);
    expect((err as ImportInterruptedError).slabsDone).toBe(3);
    const source = await competitionFolder(dir);
    const prefix = volumePrefix(importId(o.dataset, source.name, { contentHash: await source.contentHash(), chunkShape: CHUNK }), keyRoot);
    const stored = (await listKeys(`${prefix}/`)).filter((k) => chunkSlab(k) === 3);
    expect(stored.length, 'part of slab 3 was stored before the failure').toBeGreaterThan(0);
    expect(stored.length).toBeLessThan(CHUNKS_PER_SLAB);
    expect(JSON.parse(new TextDecoder().decode((await getObject(importManifestKey(prefix)))!)).slabsDone).toBe(3);
    await resume(o, 3, 3);
  });
});
