import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { VolumeSource, ImportOptions } from '@capillary/volumes/importers';
import { useStackEnv } from '../stack/load-env.ts';

type Role = NonNullable<ImportOptions['role']>;
const ROLES: Role[] = ['train', 'validation', 'public_test', 'private_test'];

interface CommonOpts {
  dataset: string;
  role: string;
  labelDensity?: string;
}

/** Imports sources one after another with a progress bar each; Ctrl-C stops and cleans up. */
export async function runImports(sources: { source: VolumeSource; role?: Role }[], opts: CommonOpts): Promise<void> {
  useStackEnv();
  const { importVolume } = await import('@capillary/volumes/importers');
  const { disconnectPrisma } = await import('@capillary/db');
  const role = opts.role as Role;
  if (!ROLES.includes(role)) throw new Error(`--role must be one of ${ROLES.join(', ')}, got "${opts.role}"`);
  const labelDensity = opts.labelDensity === undefined ? undefined : Number(opts.labelDensity);
  if (labelDensity !== undefined && !(labelDensity > 0 && labelDensity <= 1)) throw new Error(`--label-density must be in (0, 1], got "${opts.labelDensity}"`);
  const abort = new AbortController();
  const onSigint = () => abort.abort(new Error('interrupted; nothing of the current volume was kept'));
  process.once('SIGINT', onSigint);
  try {
    for (const { source, role: r } of sources) {
      const bar = new SingleBar({ format: `${source.name} [{bar}] {value}/{total} slices {eta_formatted}`, stream: process.stderr, noTTYOutput: false }, Presets.shades_classic);
      bar.start(source.shape[0], 0);
      try {
        const { volume, created } = await importVolume(source, {
          dataset: opts.dataset,
          role: r ?? role,
          labelDensity,
          signal: abort.signal,
          onProgress: (d) => bar.update(d),
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
      .option('--role <role>', `split role: ${ROLES.join(' | ')}`, 'train')
      .option('--label-density <f>', 'share of vessels that carry labels (e.g. 0.65 for kidney_2)');

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
