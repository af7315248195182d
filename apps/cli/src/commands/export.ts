import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { useStackEnv } from '@capillary/devstack';

/**
 * Writes a prediction's submission CSV (id,rle) to a file, streamed from S3.
 */
async function exportPredictionCsv(predictionId: string, out: string) {
  const { prisma } = await import('@capillary/db');
  const { getObjectStream } = await import('@capillary/storage');
  const { createWriteStream } = await import('node:fs');
  const { pipeline } = await import('node:stream/promises');
  const row = await prisma().prediction.findUnique({ where: { id: predictionId } }).catch(() => null);
  if (!row) throw new Error(`--prediction: no prediction ${predictionId}`);
  if (!row.csvKey) throw new Error(`--prediction: prediction ${predictionId} is ${row.status} and has no submission CSV`);
  const obj = await getObjectStream(row.csvKey);
  await pipeline(obj.body as NodeJS.ReadableStream, createWriteStream(out));
  console.log(`wrote the submission CSV of prediction ${predictionId} to ${out}`);
}

/** The mask array a prediction wrote for one volume. */
async function predictedMaskKey(predictionId: string, volumeName: string): Promise<string> {
  const { prisma } = await import('@capillary/db');
  const row = await prisma().prediction.findUnique({ where: { id: predictionId } }).catch(() => null);
  if (!row) throw new Error(`--prediction: no prediction ${predictionId}`);
  const out = (row.outputs as { volume: string; maskKey: string }[]).find((o) => o.volume === volumeName);
  if (!out) throw new Error(`--prediction: prediction ${predictionId} has no mask for volume "${volumeName}"`);
  return out.maskKey;
}

/** `capillary export <dataset>/<volume> --out DIR`: slices of a volume (or a predicted mask) as PNG/TIFF. */
export function register(program: Command) {
  program
    .command('export')
    .description('write z slices of a registered volume (labels, image, mask) or of a predicted mask array as PNG/TIFF files')
    .argument('[volume]', 'dataset/volume name, or a volume id (not needed for --format csv)')
    .requiredOption('--out <dir>', 'output folder (files NNNN.png / NNNN.tif), or the CSV file for --format csv')
    .option('--prediction <id>', "a prediction: its mask of this volume (png/tiff), or its whole submission CSV (--format csv)")
    .option('--which <array>', 'label | image | mask', 'label')
    .option('--key <s3prefix>', 'export this uint8 mask array (e.g. a prediction) instead, with the volume giving the shape')
    .option('--from <z>', 'first slice', '0')
    .option('--to <z>', 'one past the last slice (default: all)')
    .option('--format <fmt>', 'png | tiff | csv', 'png')
    .action(async (name: string | undefined, o: { out: string; which: string; key?: string; prediction?: string; from: string; to?: string; format: string }) => {
      useStackEnv();
      const { prisma, disconnectPrisma } = await import('@capillary/db');
      if (o.format === 'csv') {
        if (!o.prediction) throw new Error('--format csv needs --prediction <id>');
        try {
          return await exportPredictionCsv(o.prediction, o.out);
        } finally {
          await disconnectPrisma();
        }
      }
      if (!name) throw new Error('name the volume to export (dataset/volume or a volume id)');
      const { openVolume, exportSlices, openMaskArray } = await import('@capillary/volumes');
      if (!['label', 'image', 'mask'].includes(o.which)) throw new Error(`--which must be label, image or mask, got "${o.which}"`);
      if (!['png', 'tiff'].includes(o.format)) throw new Error(`--format must be png, tiff or csv, got "${o.format}"`);
      try {
        const [ds, vol] = name.includes('/') ? name.split('/', 2) : [undefined, name];
        const row = ds
          ? await prisma().volume.findFirst({ where: { name: vol, dataset: { name: ds } } })
          : /^[0-9a-f-]{36}$/i.test(name)
            ? await prisma().volume.findUnique({ where: { id: name } })
            : null;
        if (!row) throw new Error(`no volume "${name}" (use dataset/volume or a volume id)`);
        const maskKey = o.prediction ? await predictedMaskKey(o.prediction, row.name) : o.key;
        const reader = maskKey ? openMaskArray(maskKey, [row.depth, row.height, row.width]) : openVolume(row);
        const from = Number(o.from);
        const to = o.to === undefined ? row.depth : Number(o.to);
        const bar = new SingleBar({ format: `${row.name} [{bar}] {value}/{total} slices`, stream: process.stderr }, Presets.shades_classic);
        bar.start(Math.max(0, to - from), 0);
        const files = await exportSlices(reader, {
          outDir: o.out,
          from,
          to,
          format: o.format as 'png' | 'tiff',
          which: maskKey ? 'image' : (o.which as 'label' | 'image' | 'mask'),
          binary: !!maskKey,
          onProgress: (d) => bar.update(d),
        }).finally(() => bar.stop());
        console.log(`wrote ${files.length} slices to ${o.out}`);
      } finally {
        await disconnectPrisma();
      }
    });
}
