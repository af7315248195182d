// Real data end to end: a 2.5D U-Net (k neighbouring slices as channels) on the six vesselNN
// two-photon volumes, leave-one-volume-out: one sweep whose grid is the validation volume.
// Reports each fold's validation surface Dice and Dice.
// `npm run bench -- vesselnn-train [--folds N] [--epochs N] [--steps N] [--tile N] [--workers N]`
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { importVolume, multiPageTiff } from '@capillary/volumes/importers';
import { arg, follow, requireData, startHarness } from './_real-data.ts';

const dir = requireData('vesselnn');
const t0 = Date.now();
const h = await startHarness(arg('workers', 1));
try {
  const names = readdirSync(path.join(dir, 'images')).filter((f) => f.endsWith('.tif')).sort();
  for (const f of names) {
    await importVolume(await multiPageTiff(path.join(dir, 'images', f), path.join(dir, 'labels', f), { name: f.replace(/\.tif$/, '') }), { dataset: 'vesselnn', role: 'train' });
  }
  const volumes = names.map((f) => f.replace(/\.tif$/, ''));
  const folds = volumes.slice(0, arg('folds', volumes.length));
  console.log(`vesselNN: ${volumes.length} volumes; leave-one-out folds: ${folds.join(', ')}`);
  const sweep = await h.submit({
    name: 'vesselNN 2.5D leave-one-volume-out',
    base: {
      dataset: 'vesselnn', model: 'unet25d', slices: 3, epochs: arg('epochs', 8), stepsPerEpoch: arg('steps', 30),
      tileSize: arg('tile', 96), batchSize: 4, baseFilters: 12, depth: 4, lr: 0.002, warmupEpochs: 1, augmentationP: 0.5, seed: 1,
    },
    grid: { validationVolumes: folds.map((v) => [v]) },
  }, '/sweeps');
  const ids: string[] = sweep.experiments.map((e: { id: string }) => e.id);
  const foldOf = new Map<string, string>(sweep.experiments.map((e: any) => [e.id, e.spec.validationVolumes[0]]));
  const done = await follow(h, ids, (id) => foldOf.get(id)!);
  const rows = done.map((e: any) => {
    const best = e.epochMetrics.reduce((a: any, m: any) => ((m.surfaceDice ?? -1) > (a?.surfaceDice ?? -1) ? m : a), null);
    return { validation: foldOf.get(e.id), status: e.status, surfaceDice: best?.surfaceDice ?? null, dice: best?.dice ?? null, bestEpoch: best?.epoch ?? null };
  });
  console.table(rows);
  const scored = rows.filter((r: any) => r.surfaceDice !== null);
  const mean = (k: 'surfaceDice' | 'dice') => (scored.length ? scored.reduce((a: number, r: any) => a + r[k], 0) / scored.length : null);
  console.log(JSON.stringify({ sweepId: sweep.id, folds: rows, meanSurfaceDice: mean('surfaceDice'), meanDice: mean('dice'), minutes: Number(((Date.now() - t0) / 60000).toFixed(1)), backend: done[0]?.backend }));
} finally {
  await h.close();
}
process.exit(0);
