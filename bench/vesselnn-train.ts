// Real data end to end: the six vesselNN two-photon volumes imported as `npx capillary import
// vesselnn` does, then leave-one-volume-out through the queue: a committed experiment spec becomes a
// sweep over `validationVolumes` (each volume validates once, the other five train); a committed
// sweep gets that grid added to its own. Reports each fold's validation surface Dice (tolerance 0)
// and Dice at its best epoch, and each configuration's mean over the folds.
// `npm run bench -- vesselnn-train [--file examples/vesselnn.json] [--folds N] [--workers N]`
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { importVolume, multiPageTiff } from '@capillary/volumes/importers';
import { prisma } from '@capillary/db';
import { VolumeRegistry } from '@capillary/registry';
import { benchArgs, integerArg } from './_args.ts';
import { bestOf, describeRun, follow, markdownTable, readSpecFile, requireData, startHarness, variedFields } from './_real-data.ts';

const { values: opts } = benchArgs({ options: { file: { type: 'string', default: 'examples/vesselnn.json' }, folds: { type: 'string' }, workers: { type: 'string', default: '1' } } });
const workers = integerArg('workers', opts.workers);
// Unset: every volume validates once.
const foldCount = opts.folds === undefined ? undefined : integerArg('folds', opts.folds);
const dir = requireData('vesselnn');
const file = opts.file;
const { kind, body } = readSpecFile(file);
const t0 = Date.now();
const h = await startHarness(workers);
try {
  const names = readdirSync(path.join(dir, 'images')).filter((f) => f.endsWith('.tif')).sort();
  for (const f of names) {
    await importVolume(await multiPageTiff(path.join(dir, 'images', f), path.join(dir, 'labels', f), { name: f.replace(/\.tif$/, '') }), { catalog: new VolumeRegistry(prisma()), dataset: 'vesselnn', role: 'train' });
  }
  const volumes = names.map((f) => f.replace(/\.tif$/, ''));
  const folds = volumes.slice(0, foldCount ?? volumes.length).map((v) => [v]);
  const sweep = kind === 'sweep'
    ? { ...body, grid: { ...body.grid, validationVolumes: body.grid?.validationVolumes ?? folds } }
    : { name: `${body.name ?? file}: leave-one-volume-out`, base: { ...body, name: undefined, validationVolumes: undefined }, grid: { validationVolumes: folds } };
  console.log(`vesselNN: ${volumes.length} volumes; ${file} (${kind}); folds: ${sweep.grid.validationVolumes.map((v: string[]) => v[0]).join(', ')}`);
  const submitted = await h.submit(sweep, '/sweeps');
  const runs: { id: string; spec: Record<string, unknown> }[] = submitted.experiments;
  const varied = variedFields(runs.map((r) => r.spec)).filter((k) => k !== 'validationVolumes');
  const config = (spec: Record<string, unknown>) => describeRun(spec, varied);
  const label = new Map(runs.map((r) => [r.id, `${config(r.spec)} ${(r.spec.validationVolumes as string[])[0]}`.trim()]));
  const done = await follow(h, runs.map((r) => r.id), (id) => label.get(id)!);
  const folded = done.map((e: any) => {
    const best = bestOf(e);
    return { config: config(e.spec), validation: e.spec.validationVolumes[0], surfaceDice: best.surfaceDice, dice: best.dice, 'best epoch': best.epoch, status: e.status, 'training min': best.trainingMinutes };
  });
  console.log(markdownTable(folded));
  const mean = (xs: (number | null)[]) => (xs.every((x) => x !== null) ? (xs as number[]).reduce((a, b) => a + b, 0) / xs.length : null);
  const configs = [...new Set(folded.map((r) => r.config))].map((c) => {
    const rs = folded.filter((r) => r.config === c);
    return { config: c || 'the spec', 'mean surface Dice': mean(rs.map((r) => r.surfaceDice)), 'mean Dice': mean(rs.map((r) => r.dice)), 'longest fold min': Math.max(...rs.map((r) => r['training min'])) };
  }).sort((a, b) => (b['mean surface Dice'] ?? -1) - (a['mean surface Dice'] ?? -1));
  console.log(markdownTable(configs.map((r, i) => ({ '#': i + 1, ...r }))));
  const minutes = Number(((Date.now() - t0) / 60000).toFixed(1));
  console.log(JSON.stringify({ file, sweepId: submitted.id, backend: done[0]?.backend, target: 0.5, meanSurfaceDice: configs[0]?.['mean surface Dice'] ?? null, minutes, configs, folds: folded }));
} finally {
  await h.close();
}
process.exit(0);
