// Real data end to end: a 2D U-Net trained through the queue on the 20 DRIVE training images
// (16 train / 4 validation); reports validation F1 (= Dice) inside the field of view.
// `npm run bench -- drive-train [--epochs N] [--steps N] [--tile N]`
import { driveFolder, importVolume } from '@capillary/volumes/importers';
import { arg, follow, requireData, startHarness } from './_real-data.ts';

const dir = requireData('drive');
const t0 = Date.now();
const h = await startHarness(1);
try {
  const training = (await driveFolder(dir)).filter((s) => s.split === 'training');
  for (const { source } of training) await importVolume(source, { dataset: 'drive', role: 'train' });
  const names = training.map((s) => s.source.name).sort();
  const validationVolumes = names.slice(-4);
  console.log(`DRIVE: ${names.length} training images imported; validating on ${validationVolumes.join(', ')}`);
  const spec = {
    name: 'DRIVE 2D U-Net',
    dataset: 'drive',
    model: 'unet',
    epochs: arg('epochs', 30),
    stepsPerEpoch: arg('steps', 40),
    tileSize: arg('tile', 96),
    batchSize: 4,
    baseFilters: 16,
    depth: 4,
    lr: 0.002,
    warmupEpochs: 1,
    augmentationP: 0.5,
    loss: 'bce-dice',
    seed: 1,
    validationVolumes,
  };
  const e = await h.submit(spec);
  const [done] = await follow(h, [e.id], () => 'drive');
  const best = done.epochMetrics.reduce((a: any, m: any) => (m.dice > (a?.dice ?? -1) ? m : a), null);
  const minutes = (Date.now() - t0) / 60000;
  console.log(`status ${done.status}; best validation F1 inside the FOV ${best?.dice?.toFixed(4)} at epoch ${best?.epoch} (${minutes.toFixed(1)} min, backend ${done.backend})`);
  console.log(JSON.stringify({
    experimentId: done.id, status: done.status, backend: done.backend, f1: best?.dice ?? null, bestEpoch: best?.epoch ?? null,
    target: 0.78, minutes: Number(minutes.toFixed(1)), spec,
    curve: done.epochMetrics.map((m: any) => ({ epoch: m.epoch, trainLoss: m.trainLoss, valLoss: m.valLoss, f1: m.dice })),
  }));
} finally {
  await h.close();
}
process.exit(0);
