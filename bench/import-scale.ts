// `npm run bench -- import-scale [--slices N] [--labels] [--concurrency N] [--no-resume]`: imports a
// kidney_1-shaped TIFF stack (2279 slices of 1303 x 912 uint16, 5.4 GB; --slices scales it down)
// through `npx capillary import competition` in a child process, as a user would, and measures MB/s
// of image data and the child's peak RSS (VmHWM), also at a quarter of the slices to show memory does
// not grow with depth. Then (unless --no-resume) it imports the stack again into a second dataset,
// sends Ctrl-C (SIGINT) half-way, reruns the same command and checks that it resumed (skipping the
// stored slabs) to the same arrays. The slices are the real hipct-kidney5 slices from ../shared/data,
// each rolled by a slice-dependent offset so no two are alike (synthetic slices when absent); they
// are written uncompressed like the real ones to a temp folder, deleted at the end, as are the
// imported volumes. Reference in the same run: reading + decoding the same TIFFs through the same
// source without uploading. Uses S3/Postgres from the environment when set, else the `bench` stack.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, stackEnv, stackProfile, stackUp } from '@capillary/devstack';
import { describeHost, hostLine } from './_host.ts';
import { SHARED_DATA } from './_real-data.ts';

const { values: opts } = parseArgs({
  options: {
    slices: { type: 'string', default: '2279' },
    labels: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '16' },
    'no-resume': { type: 'boolean', default: false },
  },
});
const [Z, Y, X] = [Number(opts.slices), 1303, 912];
if (!(Number.isInteger(Z) && Z >= 4)) throw new Error(`--slices must be an integer >= 4, got "${opts.slices}"`);
const imageGB = (Z * Y * X * 2) / 1e9;

const host = { ...describeHost(), memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version };
console.log(`${hostLine(host)}, ${host.memGB} GB, Node ${host.node}`);

if (!process.env.S3_ENDPOINT || !process.env.DATABASE_URL) {
  Object.assign(process.env, await stackUp(stackProfile('bench'), (l) => console.log(`[stack:bench] ${l}`)));
}
const childEnv = { ...process.env, ...(process.env.S3_ENDPOINT ? {} : stackEnv(stackProfile('bench'))) };

const { competitionFolder, decodeGray, importId, tiffPages } = await import('@capillary/volumes/importers');
const { VolumeRegistry } = await import('@capillary/registry');
const { chunkShapeFor } = await import('@capillary/volumes');
const { volumePrefix } = await import('@capillary/storage');
const { prisma, disconnectPrisma } = await import('@capillary/db');
const { deletePrefix } = await import('@capillary/storage');

/** An uncompressed single-strip 16- or 8-bit grayscale little-endian TIFF (the layout of the real slices). */
function grayTiff(data: Uint16Array | Uint8Array, height: number, width: number): Buffer {
  const bits = data instanceof Uint16Array ? 16 : 8;
  const entries: [number, number, number][] = [[256, 3, width], [257, 3, height], [258, 3, bits], [259, 3, 1], [262, 3, 1], [273, 4, 0], [277, 3, 1], [278, 3, height], [279, 4, data.byteLength]];
  const ifdSize = 2 + entries.length * 12 + 4;
  const dataOffset = 8 + ifdSize;
  const out = Buffer.alloc(dataOffset + data.byteLength);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(42, 2);
  out.writeUInt32LE(8, 4);
  out.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], i) => {
    const o = 10 + i * 12;
    out.writeUInt16LE(tag, o);
    out.writeUInt16LE(type, o + 2);
    out.writeUInt32LE(1, o + 4);
    if (type === 3) out.writeUInt16LE(value, o + 8);
    else out.writeUInt32LE(tag === 273 ? dataOffset : value, o + 8);
  });
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, dataOffset);
  return out;
}

/** Base slices: the real kidney slices when present, else synthetic ones. */
async function baseSlices(): Promise<{ what: string; slices: Uint16Array[] }> {
  const real = path.join(SHARED_DATA, 'hipct-kidney5');
  if (existsSync(real)) {
    const files = readdirSync(real).filter((f) => /\.tif$/.test(f)).sort();
    const slices = files.map((f) => {
      const buf = new Uint8Array(readFileSync(path.join(real, f)));
      return decodeGray(buf, tiffPages(buf, f)[0], f) as Uint16Array;
    });
    if (slices.every((s) => s.length === Y * X)) return { what: `real hipct-kidney5 slices (${files.length}), rolled per slice`, slices };
  }
  const { syntheticSlices } = await import('@capillary/volumes');
  return { what: 'synthetic slices (hipct-kidney5 absent), rolled per slice', slices: [...syntheticSlices({ shape: [3, Y, X], seed: 5 })].map((s) => s.image) };
}

const root = mkdtempSync(path.join(os.tmpdir(), 'capillary-import-scale-'));
const dir = path.join(root, `kidney_scale_${Z}`);
const tag = Math.random().toString(36).slice(2, 8);
const datasets = [`bench-import-${tag}`, `bench-import-resume-${tag}`];
/** The stack's content hash, once known: what the cleanup needs to find unfinished imports' prefixes. */
let hashed: { name: string; shape: [number, number, number]; contentHash: string } | undefined;

/** Peak RSS of a child, sampled from /proc while it runs (VmHWM only grows, so the last sample is the peak so far). */
function hwmMB(pid: number): number | null {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return null;
  }
}

interface CliRun { seconds: number; code: number | null; peakRssMB: number; peakRssQuarterMB: number; output: string }

/** Runs `capillary import competition` on the stack; `interruptAt` sends SIGINT once that share of slices is reported. */
function runCli(dataset: string, interruptAt?: number): Promise<CliRun> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', '--import', 'tsx', path.join(REPO_ROOT, 'apps/cli/src/main.ts'), 'import', 'competition', dir, '--dataset', dataset, '--concurrency', opts.concurrency!], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let peak = 0;
    let quarter = 0;
    let interrupted = false;
    const sample = () => (peak = Math.max(peak, hwmMB(child.pid!) ?? 0));
    const timer = setInterval(sample, 200);
    const onData = (b: Buffer) => {
      const text = b.toString();
      output += text;
      process.stderr.write(`  | ${text.replace(/\n(?!$)/g, '\n  | ')}`);
      for (const m of text.matchAll(/(\d+)\/(\d+) slices/g)) {
        const done = Number(m[1]);
        if (!quarter && done >= Z / 4) quarter = sample();
        // Once: a second Ctrl-C kills the CLI outright (Node's default), as it would a user's.
        if (interruptAt !== undefined && done >= Z * interruptAt && !interrupted) interrupted = child.kill('SIGINT');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ seconds: (performance.now() - t0) / 1000, code, peakRssMB: Math.round(peak), peakRssQuarterMB: Math.round(quarter), output });
    });
  });
}

try {
  const base = await baseSlices();
  console.log(`writing ${Z} slices of ${Y}x${X} uint16 (${imageGB.toFixed(2)} GB${opts.labels ? ', with labels' : ''}) to ${dir}: ${base.what}`);
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  if (opts.labels) mkdirSync(path.join(dir, 'labels'), { recursive: true });
  const rolled = new Uint16Array(Y * X);
  const label = new Uint8Array(Y * X);
  let t = performance.now();
  for (let z = 0; z < Z; z++) {
    const src = base.slices[z % base.slices.length];
    const dy = (z * 13) % Y;
    const dx = (z * 7) % X;
    for (let y = 0; y < Y; y++) {
      const row = ((y + dy) % Y) * X;
      rolled.set(src.subarray(row + dx, row + X), y * X);
      rolled.set(src.subarray(row, row + dx), y * X + X - dx);
    }
    const name = `${String(z).padStart(4, '0')}.tif`;
    writeFileSync(path.join(dir, 'images', name), grayTiff(rolled, Y, X));
    if (opts.labels) {
      // Bright voxels as "vessels": a sparse, structured label like a real one.
      for (let i = 0; i < label.length; i++) label[i] = rolled[i] > 33_000 ? 255 : 0;
      writeFileSync(path.join(dir, 'labels', name), grayTiff(label, Y, X));
    }
  }
  console.log(`written in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // Reference: the source side alone (hash, then read + decode every slice), in this process.
  const source = await competitionFolder(dir);
  t = performance.now();
  hashed = { name: source.name, shape: source.shape, contentHash: await source.contentHash() };
  const hashSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  for await (const s of source.slices()) if (s.image.length !== Y * X) throw new Error('short slice');
  const decodeSeconds = (performance.now() - t) / 1000;
  const readDecodeMBps = (imageGB * 1000) / (hashSeconds + decodeSeconds);
  console.log(`reference: sha256 of the stack ${hashSeconds.toFixed(1)} s, read + decode ${decodeSeconds.toFixed(1)} s: ${readDecodeMBps.toFixed(0)} MB/s (files in the page cache)`);

  console.log(`importing with \`capillary import competition\` (--concurrency ${opts.concurrency}) ...`);
  const full = await runCli(datasets[0]);
  if (full.code !== 0) throw new Error(`import failed (exit ${full.code}):\n${full.output}`);
  const importMBps = (imageGB * 1000) / full.seconds;
  const row = await prisma().volume.findFirstOrThrow({ where: { dataset: { name: datasets[0] } } });
  console.log(`import: ${full.seconds.toFixed(1)} s, ${importMBps.toFixed(1)} MB/s of image data; peak RSS ${full.peakRssMB} MB (${full.peakRssQuarterMB} MB at a quarter of the slices)`);

  let resume: Record<string, unknown> = { skipped: true };
  if (!opts['no-resume']) {
    console.log('resume: the same import into a second dataset, Ctrl-C at half the slices, then the same command again ...');
    const stopped = await runCli(datasets[1], 0.5);
    const stoppedMsg = /import stopped .* with (\d+) of (\d+) chunk slabs stored/.exec(stopped.output);
    if (stopped.code === 0 || !stoppedMsg) throw new Error(`the interrupted import should have stopped with a resumable error (exit ${stopped.code}):\n${stopped.output.slice(-2000)}`);
    const again = await runCli(datasets[1]);
    if (again.code !== 0) throw new Error(`resumed import failed (exit ${again.code}):\n${again.output}`);
    const resumedFrom = Number(/resuming: slices 1-(\d+)/.exec(again.output)?.[1] ?? 0);
    if (resumedFrom === 0) throw new Error(`the rerun did not resume:\n${again.output}`);
    const resumed = await prisma().volume.findFirstOrThrow({ where: { dataset: { name: datasets[1] } } });
    const { getObject } = await import('@capillary/storage');
    const same = async (a: string, b: string) => Buffer.from((await getObject(a))!).equals(Buffer.from((await getObject(b))!));
    // zarr.json holds the compression ratio, a sum over every stored chunk's size; stats cover every voxel.
    const identical = (await same(`${row.imageKey}/zarr.json`, `${resumed.imageKey}/zarr.json`)) && JSON.stringify(row.stats) === JSON.stringify(resumed.stats) && row.contentHash === resumed.contentHash;
    if (!identical) throw new Error('the resumed import differs from the uninterrupted one');
    resume = { stoppedAfterSeconds: +stopped.seconds.toFixed(1), slabsStored: Number(stoppedMsg[1]), slabs: Number(stoppedMsg[2]), resumedFromSlice: resumedFrom, rerunSeconds: +again.seconds.toFixed(1), rerunPeakRssMB: again.peakRssMB, identical };
    console.log(`resume: stopped after ${stopped.seconds.toFixed(1)} s with ${stoppedMsg[1]} of ${stoppedMsg[2]} slabs stored; the rerun skipped slices 1-${resumedFrom} and took ${again.seconds.toFixed(1)} s (full import ${full.seconds.toFixed(1)} s); same zarr.json, stats and hash: ${identical}`);
  }

  const ratio = importMBps / readDecodeMBps;
  const rssGrowth = full.peakRssQuarterMB ? full.peakRssMB / full.peakRssQuarterMB : null;
  console.log(`import / read+decode: ${ratio.toFixed(3)}; peak RSS at the end / at a quarter: ${rssGrowth?.toFixed(3) ?? 'n/a'}`);
  console.log(
    JSON.stringify({
      host,
      shape: [Z, Y, X],
      imageGB: +imageGB.toFixed(2),
      labels: opts.labels,
      concurrency: Number(opts.concurrency),
      importSeconds: +full.seconds.toFixed(1),
      importMBps: +importMBps.toFixed(1),
      hashSeconds: +hashSeconds.toFixed(1),
      readDecodeMBps: +readDecodeMBps.toFixed(1),
      peakRssMB: full.peakRssMB,
      peakRssQuarterMB: full.peakRssQuarterMB,
      resume,
      ratio: +ratio.toFixed(4),
      rssGrowth: rssGrowth && +rssGrowth.toFixed(3),
    }),
  );
} finally {
  // This run's volumes, and the prefixes of imports that did not finish (known from their ids).
  for (const name of datasets) {
    await new VolumeRegistry(prisma()).removeDataset(name);
    if (hashed) {
      const chunkShape = chunkShapeFor(hashed.shape).map((c, i) => Math.min(c, hashed!.shape[i])) as [number, number, number];
      await deletePrefix(`${volumePrefix(importId(name, hashed.name, { contentHash: hashed.contentHash, chunkShape }))}/`);
    }
  }
  rmSync(root, { recursive: true, force: true });
  await disconnectPrisma();
}
process.exit(0);
