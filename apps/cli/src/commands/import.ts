import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { VolumeSource, ImportOptions } from '@capillary/volumes/importers';
import { useStackEnv } from '@capillary/devstack';

type Role = NonNullable<ImportOptions['role']>;
const ROLES: Role[] = ['train', 'validation', 'public_test', 'private_test'];

interface CommonOpts {
  dataset: string;
  project?: string;
  role: string;
  labelDensity?: string;
  concurrency?: string;
}

/**
 * Throughput over the last `windowMs` of progress reports: slices per second, for MB/s and an ETA
 * that follow the current pace (resumed slices, read but not uploaded, pass much faster).
 */
export class RateMeter {
  private readonly points: { t: number; done: number }[] = [];
  constructor(private readonly windowMs = 10_000) {}

  /** Adds a report; returns slices per second over the window (0 until two reports). */
  add(done: number, t = performance.now()): number {
    this.points.push({ t, done });
    while (this.points.length > 2 && t - this.points[1].t >= this.windowMs) this.points.shift();
    const first = this.points[0];
    return t > first.t ? ((done - first.done) * 1000) / (t - first.t) : 0;
  }
}

const formatEta = (s: number) => (!Number.isFinite(s) ? '--' : s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);

/** A progress bar of one import: slices done/total, MB/s of image data, ETA; says when it resumed. */
function importBar(source: VolumeSource): { update: (done: number, total: number, info: { resumedSlices: number }) => void; stop: () => void } {
  const [, Y, X] = source.shape;
  const sliceMB = (Y * X * (source.dtype === 'uint16' ? 2 : 1)) / 1e6;
  const bar = new SingleBar(
    { format: `${source.name} [{bar}] {value}/{total} slices | {mbps} MB/s | ETA {timeLeft}{note}`, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 10_000 },
    Presets.shades_classic,
  );
  const meter = new RateMeter();
  let started = false;
  return {
    update(done, total, { resumedSlices }) {
      const perSecond = meter.add(done);
      // Not `eta`: cli-progress fills that token itself.
      const payload = {
        mbps: (perSecond * sliceMB).toFixed(1),
        timeLeft: formatEta(perSecond > 0 ? (total - done) / perSecond : Infinity),
        note: resumedSlices ? ` (resuming: slices 1-${resumedSlices} were stored by an earlier run)` : '',
      };
      if (!started) bar.start(total, done, payload);
      else bar.update(done, payload);
      started = true;
    },
    stop: () => started && bar.stop(),
  };
}

/** Imports sources one after another with a progress bar each; Ctrl-C stops, and the same command resumes. */
export async function runImports(sources: { source: VolumeSource; role?: Role }[], opts: CommonOpts): Promise<void> {
  useStackEnv();
  const { importVolume } = await import('@capillary/volumes/importers');
  const { disconnectPrisma } = await import('@capillary/db');
  const role = opts.role as Role;
  if (!ROLES.includes(role)) throw new Error(`--role must be one of ${ROLES.join(', ')}, got "${opts.role}"`);
  const labelDensity = opts.labelDensity === undefined ? undefined : Number(opts.labelDensity);
  if (labelDensity !== undefined && !(labelDensity > 0 && labelDensity <= 1)) throw new Error(`--label-density must be in (0, 1], got "${opts.labelDensity}"`);
  const concurrency = opts.concurrency === undefined ? undefined : Number(opts.concurrency);
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 256)) throw new Error(`--concurrency must be an integer from 1 to 256, got "${opts.concurrency}"`);
  const { prisma } = await import('@capillary/db');
  const { VolumeRegistry } = await import('@capillary/registry');
  const catalog = new VolumeRegistry(prisma());
  const project = opts.project ? await prisma().project.findUnique({ where: { name: opts.project } }) : null;
  if (opts.project && !project) throw new Error(`--project: no project named "${opts.project}"`);
  const abort = new AbortController();
  const onSigint = () => abort.abort(new Error('interrupted by Ctrl-C'));
  process.once('SIGINT', onSigint);
  try {
    for (const { source, role: r } of sources) {
      console.error(`${source.name}: checking content (${source.shape.join('x')} ${source.dtype}) ...`);
      const bar = importBar(source);
      try {
        const { volume, created } = await importVolume(source, {
          catalog,
          dataset: opts.dataset,
          projectId: project?.id,
          role: r ?? role,
          labelDensity,
          concurrency,
          signal: abort.signal,
          onProgress: bar.update,
        });
        bar.stop();
        const shape = `${volume.depth}x${volume.height}x${volume.width} ${volume.dtype}`;
        console.log(created ? `${source.name}: imported as volume ${volume.id} (${shape})` : `${source.name}: already in the dataset as volume ${volume.id} (same content); nothing written`);
      } catch (e) {
        bar.stop();
        throw e;
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    await disconnectPrisma();
  }
}

/** `capillary import competition|tiff|vesselnn|drive ...`: register volumes in a dataset. */
export function register(program: Command) {
  const cmd = program.command('import').description('import volumes into a dataset (Zarr arrays in S3, rows in Postgres)');
  const common = (c: Command) =>
    c
      .requiredOption('--dataset <name>', 'dataset to add the volumes to (created when missing)')
      .option('--project <name>', 'project a new dataset belongs to (default: default)')
      .option('--role <role>', `split role: ${ROLES.join(' | ')}`, 'train')
      .option('--label-density <f>', 'share of vessels that carry labels (e.g. 0.65 for kidney_2)')
      .option('--concurrency <n>', 'chunk uploads in flight (default 16)');

  common(cmd.command('competition').argument('<dirs...>', 'kidney folders: <kidney>/images/NNNN.tif (+ labels/NNNN.tif)'))
    .description('competition kidney folders, slice by slice (labels from labels/ or --rle)')
    .option('--rle <csv>', 'labels from a competition RLE CSV (id,rle) instead of labels/')
    .option('--voxel-um <um>', 'voxel size in micrometres', '50')
    .action(async (dirs: string[], o: CommonOpts & { rle?: string; voxelUm: string }) => {
      const { competitionFolder } = await import('@capillary/volumes/importers');
      const sources = [];
      for (const d of dirs) sources.push({ source: await competitionFolder(d, { rleCsv: o.rle, voxelSizeUm: Number(o.voxelUm) }) });
      await runImports(sources, o);
    });

  common(cmd.command('tiff').argument('<image>', 'multi-page TIFF, one page per z slice').argument('[label]', 'multi-page label TIFF of the same shape'))
    .description('one multi-page TIFF volume with an optional label TIFF')
    .option('--name <name>', 'volume name (default: the file name)')
    .action(async (image: string, label: string | undefined, o: CommonOpts & { name?: string }) => {
      const { multiPageTiff } = await import('@capillary/volumes/importers');
      await runImports([{ source: await multiPageTiff(image, label, { name: o.name }) }], o);
    });

  common(cmd.command('vesselnn').argument('<dir>', 'folder with images/NAME.tif and labels/NAME.tif'))
    .description('every image/label pair of a vesselNN-style folder')
    .action(async (dir: string, o: CommonOpts) => {
      const { multiPageTiff, ImportError } = await import('@capillary/volumes/importers');
      const imagesDir = path.join(dir, 'images');
      let names: string[];
      try {
        names = readdirSync(imagesDir).filter((f) => /\.tiff?$/i.test(f)).sort();
      } catch {
        throw new ImportError(imagesDir, 'cannot be read (expected images/NAME.tif and labels/NAME.tif)');
      }
      const sources = [];
      for (const f of names) sources.push({ source: await multiPageTiff(path.join(imagesDir, f), path.join(dir, 'labels', f)) });
      await runImports(sources, o);
    });

  common(cmd.command('drive').argument('<dir>', 'DRIVE folder with training/ and test/'))
    .description('DRIVE retinal images: one depth-1 volume each (green channel, vessel labels, FOV mask); test images get role public_test')
    .action(async (dir: string, o: CommonOpts) => {
      const { driveFolder } = await import('@capillary/volumes/importers');
      const all = await driveFolder(dir);
      await runImports(all.map(({ source, split }) => ({ source, role: split === 'test' ? ('public_test' as const) : undefined })), o);
    });
}
