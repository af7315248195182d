// Real data end to end: DRIVE imported as `npx capillary import drive` does (20 training images,
// 20 unlabelled test images as public_test), then a committed spec or sweep file trained through the
// queue; reports each run's validation F1 (= Dice) inside the field of view at its best epoch.
// `npm run bench -- drive-train [--file examples/drive.json] [--workers N]`
import { driveFolder, importVolume } from '@capillary/volumes/importers';
import { prisma } from '@capillary/db';
import { VolumeRegistry } from '@capillary/registry';
import { benchArgs, integerArg } from './_args.ts';
import { bestOf, describeRun, follow, markdownTable, readSpecFile, requireData, startHarness, variedFields } from './_real-data.ts';

const { values: opts } = benchArgs({ options: { file: { type: 'string', default: 'examples/drive.json' }, workers: { type: 'string', default: '1' } } });
const workers = integerArg('workers', opts.workers);
const dir = requireData('drive');
const file = opts.file;
const { kind, body } = readSpecFile(file);
const t0 = Date.now();
const h = await startHarness(workers);
try {
  const all = await driveFolder(dir);
  for (const { source, split } of all) await importVolume(source, { catalog: new VolumeRegistry(prisma()), dataset: 'drive', role: split === 'test' ? 'public_test' : 'train' });
  console.log(`DRIVE: ${all.length} images imported; ${file} (${kind})`);
  const submitted = await h.submit(body, kind === 'sweep' ? '/sweeps' : '/experiments');
  const runs: { id: string; spec: Record<string, unknown> }[] = kind === 'sweep' ? submitted.experiments : [submitted];
  const varied = variedFields(runs.map((r) => r.spec));
  const label = new Map(runs.map((r, i) => [r.id, `#${i + 1} ${describeRun(r.spec, varied)}`.trim()]));
  const done = await follow(h, runs.map((r) => r.id), (id) => label.get(id)!);
  const rows = done
    .map((e: any) => {
      const best = bestOf(e);
      const maxF1 = Math.max(...e.epochMetrics.map((m: any) => m.dice ?? -1));
      return {
        ...Object.fromEntries(varied.map((k) => [k, e.spec[k]])),
        'F1 (FOV)': best.dice, 'best epoch': best.epoch, 'max F1': maxF1, status: e.status, 'training min': best.trainingMinutes, id: e.id,
      };
    })
    .sort((a: any, b: any) => (b['F1 (FOV)'] ?? -1) - (a['F1 (FOV)'] ?? -1));
  console.log(markdownTable(rows.map((r: any, i: number) => ({ '#': i + 1, ...r }))));
  const minutes = Number(((Date.now() - t0) / 60000).toFixed(1));
  console.log(JSON.stringify({ file, sweepId: kind === 'sweep' ? submitted.id : null, backend: done[0]?.backend, target: 0.82, bestF1: rows[0]?.['F1 (FOV)'] ?? null, minutes, runs: rows }));
} finally {
  await h.close();
}
process.exit(0);
