// The winners' tricks, measured small: 2.5D U-Nets on vesselNN crops (train on one two-photon
// volume, validate on another), each trick against the same baseline in the same run, then the
// prediction tricks on the baseline's best checkpoint.
// `npm run bench -- tricks [--epochs N] [--steps N] [--seeds N]`
// Last line: JSON with each trick's validation surface Dice and its ratio to the baseline's.
import path from 'node:path';
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { loadModelFromCheckpoint, predictVolume, selectBackend, train, type PredictOptions } from '@capillary/engine';
import { SurfaceDiceStream } from '@capillary/metric';
import { cropToMemory, multiPageTiff } from '@capillary/volumes/importers';
import { MemoryVolume, ResampledVolume, type VolumeReader } from '@capillary/volumes';
import { benchArgs, integerArg } from './_args.ts';
import { requireData } from './_real-data.ts';

const { values: opts } = benchArgs({ options: { epochs: { type: 'string', default: '4' }, steps: { type: 'string', default: '15' }, seeds: { type: 'string', default: '2' } } });
const epochs = integerArg('epochs', opts.epochs);
const steps = integerArg('steps', opts.steps);
const seeds = integerArg('seeds', opts.seeds);
const dir = requireData('vesselnn');

/** A y/x crop of a vesselNN volume with its labels, in memory. */
async function crop(name: string, size: number): Promise<MemoryVolume> {
  return cropToMemory(await multiPageTiff(path.join(dir, 'images', `${name}.tif`), path.join(dir, 'labels', `${name}.tif`), { name }), size);
}

await selectBackend('auto', 2);
const trainVol = await crop('burgess2014_lowerRes_hiSNR', 192);
const valVol = await crop('santos2015_lowContrastVessels', 160);
const base = { dataset: 'vesselnn', model: 'unet', slices: 3, epochs, stepsPerEpoch: steps, lr: 0.005, tileSize: 64, batchSize: 4, baseFilters: 8, depth: 3 };
const tricks: Record<string, Record<string, unknown>> = {
  baseline: {},
  surfaceDiceLoss: { loss: { bce: 1, dice: 1, surfaceDice: 1 } },
  kOut3: { outputSlices: 3 },
  rotation3d: { rotation3dP: 0.3, rotation3dMaxDegrees: 30 },
  attentionResnext: { model: 'attention-unet', encoder: 'resnext50' },
};

const results: Record<string, { surfaceDice: number[]; seconds: number[] }> = {};
let baselineCheckpoint: Uint8Array | undefined;
for (const [name, extra] of Object.entries(tricks)) {
  results[name] = { surfaceDice: [], seconds: [] };
  for (let seed = 1; seed <= seeds; seed++) {
    const spec = Value.Default(ExperimentSpec, { ...base, ...extra, seed }) as ExperimentSpec;
    const t0 = performance.now();
    let best = -1;
    await train({
      spec, train: [trainVol], validation: [valVol],
      onEpoch: async (r, ck) => {
        if ((r.surfaceDice ?? -1) > best) {
          best = r.surfaceDice ?? -1;
          if (name === 'baseline' && seed === 1) baselineCheckpoint = ck;
        }
      },
    });
    results[name].surfaceDice.push(best);
    results[name].seconds.push((performance.now() - t0) / 1000);
    console.log(`${name} seed ${seed}: best validation surface Dice ${best.toFixed(4)} (${results[name].seconds.at(-1)!.toFixed(0)} s)`);
  }
}

/** Surface Dice of a prediction of `volume` (labels from `truth`, same grid). */
async function score(volume: VolumeReader, o: Partial<PredictOptions>) {
  const model = loadModelFromCheckpoint(baselineCheckpoint!);
  const [, Y, X] = volume.shape;
  const stream = new SurfaceDiceStream(Y, X);
  const summary = await predictVolume(model, volume, {
    axes: ['xy'], slices: 3, tileSize: 64, overlap: 0.25, tta: false, threshold: 0.5, ...o,
    onSlice: async (z, mask) => stream.push(await volume.readLabel('z', z, 1), mask),
  });
  model.dispose();
  return { surfaceDice: stream.result().surfaceDice, threshold: summary.threshold };
}
const truthFraction = valVol.stats.foregroundFraction!;
const prediction = {
  fixedThreshold: await score(valVol, {}),
  // The expected positive fraction known exactly (an oracle: the validation labels' own share).
  percentileThreshold: await score(valVol, { positiveFraction: truthFraction }),
  // A volume of another voxel size: the validation volume resampled 1.26x (63 um seen by a 50 um model)...
  otherVoxelSize: await score(new ResampledVolume(valVol, 1.26), {}),
  // ...predicted after resampling it back to the training grid.
  otherVoxelSizePredictScale: await score(new ResampledVolume(valVol, 1.26), { predictScale: 1 / 1.26 }),
};
console.table(prediction);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ref = mean(results.baseline.surfaceDice);
const training = Object.fromEntries(
  Object.entries(results).map(([k, r]) => [k, { surfaceDice: r.surfaceDice.map((v) => +v.toFixed(4)), mean: +mean(r.surfaceDice).toFixed(4), ratio: +(mean(r.surfaceDice) / ref).toFixed(3), seconds: +mean(r.seconds).toFixed(0) }]),
);
console.table(training);
console.log(JSON.stringify({
  epochs, steps, seeds, training,
  prediction: Object.fromEntries(Object.entries(prediction).map(([k, v]) => [k, { surfaceDice: v.surfaceDice === null ? null : +v.surfaceDice.toFixed(4), threshold: +v.threshold.toFixed(4) }])),
  percentileRatio: +((prediction.percentileThreshold.surfaceDice ?? 0) / (prediction.fixedThreshold.surfaceDice ?? 1)).toFixed(3),
  predictScaleRatio: +((prediction.otherVoxelSizePredictScale.surfaceDice ?? 0) / (prediction.otherVoxelSize.surfaceDice ?? 1)).toFixed(3),
}));
process.exit(0);
