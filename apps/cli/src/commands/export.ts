import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { useStackEnv } from '../stack/load-env.ts';

/** `capillary export <dataset>/<volume> --out DIR`: slices of a volume (or a predicted mask) as PNG/TIFF. */
export function register(program: Command) {
  program
    .command('export')
    .description('write z slices of a registered volume (labels, image, mask) or of a predicted mask array as PNG/TIFF files')
    .argument('<volume>', 'dataset/volume name, or a volume id')
    .requiredOption('--out <dir>', 'output folder (files NNNN.png / NNNN.tif)')
    .option('--which <array>', 'label | image | mask', 'label')
    .option('--key <s3prefix>', 'export this uint8 mask array (e.g. a prediction) instead, with the volume giving the shape')
    .option('--from <z>', 'first slice', '0')
    .option('--to <z>', 'one past the last slice (default: all)')
    .option('--format <fmt>', 'png | tiff', 'png')
    .action(async (name: string, o: { out: string; which: string; key?: string; from: string; to?: string; format: string }) => {
      useStackEnv();
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      const { openVolume, exportSlices, openMaskArray } = await import('@capillary/volumes');
      if (!['label', 'image', 'mask'].includes(o.which)) throw new Error(`--which must be label, image or mask, got "${o.which}"`);
      if (!['png', 'tiff'].includes(o.format)) throw new Error(`--format must be png or tiff, got "${o.format}"`);
      try {
        const [ds, vol] = name.includes('/') ? name.split('/', 2) : [undefined, name];
        const row = ds
          ? await prisma().volume.findFirst({ where: { name: vol, dataset: { name: ds } } })
          : /^[0-9a-f-]{36}$/i.test(name)
            ? await prisma().volume.findUnique({ where: { id: name } })
            : null;
        if (!row) throw new Error(`no volume "${name}" (use dataset/volume or a volume id)`);
        const reader = o.key ? openMaskArray(o.key, [row.depth, row.height, row.width]) : openVolume(row);
        const from = Number(o.from);
        const to = o.to === undefined ? row.depth : Number(o.to);
        const bar = new SingleBar({ format: `${row.name} [{bar}] {value}/{total} slices`, stream: process.stderr }, Presets.shades_classic);
        bar.start(Math.max(0, to - from), 0);
        const files = await exportSlices(reader, {
          outDir: o.out,
          from,
          to,
          format: o.format as 'png' | 'tiff',
          which: o.key ? 'image' : (o.which as 'label' | 'image' | 'mask'),
          binary: !!o.key,
          onProgress: (d) => bar.update(d),
        }).finally(() => bar.stop());
        console.log(`wrote ${files.length} slices to ${o.out}`);
      } finally {
        await disconnectPrisma();
      }
    });
}
