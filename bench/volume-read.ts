// `npm run bench -- volume-read`: reads 2.5D windows (5 slices x 256 x 256, random positions and
// axes) from a 512 x 1024 x 1024 synthetic uint16 volume stored as Zarr in the local S3, cold (empty
// chunk cache) and warm (second epoch: chunks from the disk cache, fresh memory), against the same
// reads from an in-memory array. The volume is written once and kept under bench/volume-read/ in
// the bucket (--fresh rewrites it). Options: --tiles N (default 200), --depth N (default 512),
// --chunk N (cube edge, default 32), --concurrency N (tiles in flight, default 4).
// Uses S3 from the environment when set, else starts the `bench` local stack. Last line: JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Box } from '@capillary/volumes';

const { values: opts } = parseArgs({
  options: {
    tiles: { type: 'string', default: '200' },
    depth: { type: 'string', default: '512' },
    chunk: { type: 'string', default: '32' },
    concurrency: { type: 'string', default: '4' },
    fresh: { type: 'boolean', default: false },
    reference: { type: 'boolean', default: false },
  },
});

const Z = Number(opts.depth);
const Y = 1024;
const X = 1024;
const K = 5;
const T = 256;
const TILES = Number(opts.tiles);
const CHUNK = Number(opts.chunk);
const CONCURRENCY = Number(opts.concurrency);

let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));

if (opts.reference) {
  const { Rng, MemoryVolume } = await import('@capillary/volumes');
  // The in-memory reference: the same tile shapes from a Uint16Array holding the first 256 slices
  // (tile boxes are drawn within that depth; 256 is the z extent of an xz/yz tile).
  const memDepth = Math.min(Z, 256);
  const mem = new Uint16Array(memDepth * Y * X);
  const fill = Rng.of(3);
  for (let i = 0; i < mem.length; i += 2) {
    const r = fill.uint32();
    mem[i] = r & 0xffff;
    mem[i + 1] = r >>> 16;
  }
  const memVol = new MemoryVolume('mem', [memDepth, Y, X], mem, undefined, { p005: 0, p995: 1, mean: 0, std: 0, foregroundFraction: null });
  const rate = await pass((b) => memVol.readImageBox(b), tiles(memDepth, Rng));
  console.log(JSON.stringify({ tilesPerSecMemory: rate, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) }));
  process.exit(0);
}

if (!process.env.S3_ENDPOINT) {
  const { stackProfile, stackUp } = await import('@capillary/devstack');
  Object.assign(process.env, await stackUp(stackProfile('bench'), (l) => console.log(`[stack:bench] ${l}`)));
}
const { getObject, putObject, deletePrefix, ensureBucket } = await import('@capillary/storage');
const { ChunkCache, Rng, ZarrSliceWriter, ZarrVolume, syntheticSlices } = await import('@capillary/volumes');

const rssTimer = setInterval(sampleRss, 50);

const prefix = `bench/volume-read/${Z}x${Y}x${X}-c${CHUNK}-seed1`;
await ensureBucket();
const done = await getObject(`${prefix}/complete`);
if (!done || opts.fresh) {
  await deletePrefix(`${prefix}/`);
  console.log(`writing the ${Z}x${Y}x${X} synthetic volume to S3 (${prefix}, chunks ${CHUNK}^3) ...`);
  const t0 = performance.now();
  const w = await ZarrSliceWriter.create(`${prefix}/image`, { shape: [Z, Y, X], dtype: 'uint16', chunkShape: [CHUNK, CHUNK, CHUNK] });
  for (const s of syntheticSlices({ shape: [Z, Y, X], seed: 1 })) {
    await w.write(s.image);
    sampleRss();
    if (s.z % 64 === 63) console.log(`  ${s.z + 1}/${Z} slices, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const { compressionRatio } = await w.close();
  await putObject(`${prefix}/complete`, JSON.stringify({ compressionRatio }));
  console.log(`written in ${((performance.now() - t0) / 1000).toFixed(1)} s, compression ${compressionRatio.toFixed(2)}x`);
}

/** Random 2.5D windows inside the volume: [axis, box]. Same list for every pass. */
function tiles(depth: number, R: typeof import('@capillary/volumes').Rng): Box[] {
  const rng = R.of(7, depth);
  return Array.from({ length: TILES }, () => {
    const axis = rng.int(3);
    const TZ = Math.min(T, depth); // only a shallow --depth makes the z extent of xz/yz tiles shorter
    const s = (n: number, size: number) => rng.int(n - size + 1);
    if (axis === 0) {
      const z = s(depth, K), y = s(Y, T), x = s(X, T);
      return { z0: z, z1: z + K, y0: y, y1: y + T, x0: x, x1: x + T };
    }
    if (axis === 1) {
      const z = s(depth, TZ), y = s(Y, K), x = s(X, T);
      return { z0: z, z1: z + TZ, y0: y, y1: y + K, x0: x, x1: x + T };
    }
    const z = s(depth, TZ), y = s(Y, T), x = s(X, K);
    return { z0: z, z1: z + TZ, y0: y, y1: y + T, x0: x, x1: x + K };
  });
}

async function pass(read: (b: Box) => Promise<unknown>, boxes: Box[]): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < boxes.length) {
        await read(boxes[next++]);
        sampleRss();
      }
    }),
  );
  return boxes.length / ((performance.now() - t0) / 1000);
}

const boxes = tiles(Z, Rng);
const cacheDir = mkdtempSync(path.join(tmpdir(), 'capillary-bench-cache-'));
const cache = new ChunkCache(cacheDir, 4096 * 1024 * 1024);
const source = { id: 'bench', imageKey: `${prefix}/image`, dtype: 'uint16', depth: Z, height: Y, width: X, stats: {} };
let cold: InstanceType<typeof ZarrVolume> | null = new ZarrVolume(source, { cache });
const tilesPerSecCold = await pass((b) => cold!.readImageBox(b), boxes);
cold = null; // its memory cache goes with it
console.log(`cold (S3 -> decode, filling the disk cache): ${tilesPerSecCold.toFixed(1)} tiles/s`);
// A second epoch in a new process would start with an empty memory cache: so does this reader.
const warm = new ZarrVolume(source, { cache });
const tilesPerSecWarm = await pass((b) => warm.readImageBox(b), boxes);
console.log(`warm (disk cache, decoded chunks): ${tilesPerSecWarm.toFixed(1)} tiles/s`);
const peakRssMB = Math.round(peakRss / 2 ** 20);
console.log(`peak RSS while writing and reading through the store: ${peakRssMB} MB; disk cache ${(cache.size / 2 ** 20).toFixed(0)} MB`);
rmSync(cacheDir, { recursive: true, force: true });

const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--reference', '--tiles', String(TILES), '--depth', String(Z), '--concurrency', String(CONCURRENCY)], { encoding: 'utf8' });
if (child.status !== 0) throw new Error(`reference run failed: ${child.stderr}`);
const reference = JSON.parse(child.stdout.trim().split('\n').pop()!) as { tilesPerSecMemory: number; peakRssMB: number };
const tilesPerSecMemory = reference.tilesPerSecMemory;
console.log(`in-memory array (child process, peak RSS ${reference.peakRssMB} MB): ${tilesPerSecMemory.toFixed(1)} tiles/s`);
clearInterval(rssTimer);

const ratioWarm = tilesPerSecWarm / tilesPerSecMemory;
console.log(`warm / in-memory: ${ratioWarm.toFixed(3)}`);
console.log(
  JSON.stringify({
    shape: [Z, Y, X],
    tile: [K, T, T],
    chunk: CHUNK,
    tiles: TILES,
    concurrency: CONCURRENCY,
    tilesPerSecCold: +tilesPerSecCold.toFixed(2),
    tilesPerSecWarm: +tilesPerSecWarm.toFixed(2),
    tilesPerSecMemory: +tilesPerSecMemory.toFixed(2),
    ratioWarm: +ratioWarm.toFixed(4),
    peakRssMB,
    referencePeakRssMB: reference.peakRssMB,
  }),
);
process.exit(0);
