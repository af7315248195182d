// Which threshold (and TTA) a trained network wants, without a training run per threshold: the
// spec trains in this process on the real data (vesselNN: leave-one-volume-out; DRIVE: the 16/4
// split of `examples/drive.json`), and each run's best checkpoint (the one best-epoch rule) predicts
// its validation volumes once per TTA setting; every threshold is scored from those probabilities.
// Validation during training, and so the best epoch, uses the spec's own threshold. The scores of
// the spec's threshold equal what the queue reports for the same spec (onednn is deterministic).
// Not through the queue: a tool for choosing what to sweep there.
// `npm run bench -- threshold-scan --dataset vesselnn|drive [--file F] [--set '{"loss":"focal"}']
//   [--thresholds 0.3,0.4,0.5] [--folds N] [--clahe]`
import { readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { SurfaceDiceStream } from '@capillary/metric';
import { cropToMemory, driveFolder, multiPageTiff } from '@capillary/volumes/importers';
import { clipToFieldOfView, MemoryVolume } from '@capillary/volumes';
import { selectBackend, predictVolume, loadModelFromCheckpoint, train, type EpochReport } from '@capillary/engine';
import { benchArgs, integerArg } from './_args.ts';
import { markdownTable, readSpecFile, requireData } from './_real-data.ts';

/** A depth-1 DRIVE image with its field-of-view mask, as validation reads it from a ZarrVolume. */
class FovImage extends MemoryVolume {
  readonly hasMask = true;
  constructor(id: string, shape: [number, number, number], image: Uint8Array, label: Uint8Array, private readonly fov: Uint8Array) {
    super(id, shape, image, label);
  }
  async readMask(): Promise<Uint8Array> {
    return this.fov.slice();
  }
}

type Fold = { name: string; train: MemoryVolume[]; validation: MemoryVolume[] };

async function vesselnnFolds(count: number): Promise<Fold[]> {
  const dir = requireData('vesselnn');
  const names = readdirSync(path.join(dir, 'images')).filter((f) => f.endsWith('.tif')).sort().map((f) => f.replace(/\.tif$/, ''));
  const volumes: MemoryVolume[] = [];
  for (const n of names) {
    const src = await multiPageTiff(path.join(dir, 'images', `${n}.tif`), path.join(dir, 'labels', `${n}.tif`), { name: n });
    volumes.push(await cropToMemory(src, src.shape[2]));
  }
  return volumes.slice(0, count).map((v) => ({ name: v.id, train: volumes.filter((w) => w !== v), validation: [v] }));
}

/** `clahe`: contrast-limited adaptive histogram equalisation of the green channel (libvips, 64 px regions). */
async function driveFold(validationNames: string[], clahe: boolean): Promise<Fold> {
  const images: FovImage[] = [];
  for (const { source, split } of await driveFolder(requireData('drive'))) {
    if (split !== 'training') continue;
    const [, H, W] = source.shape;
    for await (const s of source.slices()) {
      const image = clahe
        ? new Uint8Array(await sharp(Buffer.from(s.image), { raw: { width: W, height: H, channels: 1 } }).clahe({ width: 64, height: 64, maxSlope: 3 }).extractChannel(0).raw().toBuffer())
        : (s.image as Uint8Array);
      images.push(new FovImage(source.name, [1, H, W], image, s.label!, s.mask!));
    }
  }
  return { name: 'drive', train: images.filter((v) => !validationNames.includes(v.id)), validation: images.filter((v) => validationNames.includes(v.id)) };
}

/** Per TTA setting and threshold: the mean over the validation volumes of surface Dice and of Dice (inside the FOV). */
async function scan(fold: Fold, spec: ExperimentSpec, thresholds: number[]) {
  let best: Uint8Array | null = null;
  const t0 = performance.now();
  const onEpoch = async (r: EpochReport, checkpoint: Uint8Array) => {
    if (r.isBest) best = checkpoint;
    console.log(`${fold.name} epoch ${r.epoch}: surface Dice ${r.surfaceDice?.toFixed(4)}, Dice ${r.dice?.toFixed(4)}, ${(r.durationMs / 1000).toFixed(1)} s`);
  };
  const result = await train({ spec, train: fold.train, validation: fold.validation, onEpoch });
  const trainingMinutes = (performance.now() - t0) / 60000;
  if (!best) throw new Error(`${fold.name}: no epoch had a validation score`);
  const model = loadModelFromCheckpoint(best);
  const rows: Record<string, number | string | boolean>[] = [];
  try {
    for (const tta of [false, true]) {
      const scores = thresholds.map(() => ({ surface: [] as number[], dice: [] as number[] }));
      for (const v of fold.validation) {
        const streams = thresholds.map(() => new SurfaceDiceStream(v.shape[1], v.shape[2]));
        await predictVolume(model, v, {
          axes: ['xy'], slices: spec.slices, tileSize: spec.tileSize, overlap: 0.25, tta, threshold: spec.threshold,
          onSlice: async (z, _mask, prob) => {
            const truth = await v.readLabel('z', z, 1);
            for (const [k, t] of thresholds.entries()) {
              const mask = Uint8Array.from(prob!, (p) => (p > t ? 1 : 0));
              // Inside the field of view only, as validation and test scoring count (DRIVE).
              await clipToFieldOfView(v, z, truth, mask);
              streams[k].push(truth, mask);
            }
          },
        });
        streams.forEach((s, k) => {
          const r = s.result();
          if (r.surfaceDice !== null) scores[k].surface.push(r.surfaceDice);
          if (r.dice !== null) scores[k].dice.push(r.dice);
        });
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      thresholds.forEach((t, k) => rows.push({ fold: fold.name, tta, threshold: t, surfaceDice: mean(scores[k].surface), dice: mean(scores[k].dice) }));
    }
  } finally {
    model.dispose();
  }
  return { rows, bestEpoch: result.bestEpoch, trainingMinutes };
}

const { values: opts } = benchArgs({
  options: {
    dataset: { type: 'string', default: 'vesselnn' },
    file: { type: 'string' },
    set: { type: 'string', default: '{}' },
    thresholds: { type: 'string', default: '0.3,0.4,0.5,0.6,0.7' },
    folds: { type: 'string', default: '6' },
    clahe: { type: 'boolean', default: false },
  },
});
const dataset = opts.dataset;
const foldCount = integerArg('folds', opts.folds);
if (dataset !== 'vesselnn' && dataset !== 'drive') {
  console.error(`--dataset: expected vesselnn or drive, got "${dataset}"`);
  process.exit(2);
}
const { kind, body } = readSpecFile(opts.file ?? `examples/${dataset}.json`);
if (kind !== 'experiment') {
  console.error('--file: threshold-scan takes a plain experiment spec, not a sweep');
  process.exit(2);
}
let overrides: Record<string, unknown>;
try {
  overrides = JSON.parse(opts.set);
} catch (e) {
  console.error(`--set: not JSON (${(e as Error).message})`);
  process.exit(2);
}
const thresholds = opts.thresholds.split(',').map(Number);
if (thresholds.some((t) => !(t > 0 && t < 1))) {
  console.error('--thresholds: expected numbers in (0, 1), comma-separated');
  process.exit(2);
}
const spec = Value.Default(ExperimentSpec, { ...body, ...overrides, name: undefined }) as ExperimentSpec;
await selectBackend('onednn', Number(process.env.TFJS_THREADS ?? 0));
const folds = dataset === 'vesselnn' ? await vesselnnFolds(foldCount) : [await driveFold(body.validationVolumes, opts.clahe)];
const t0 = Date.now();
const all: Record<string, number | string | boolean>[] = [];
for (const fold of folds) {
  const { rows, bestEpoch, trainingMinutes } = await scan(fold, spec, thresholds);
  console.log(`${fold.name}: best epoch ${bestEpoch}, ${trainingMinutes.toFixed(1)} min of training; ${rows.map((r) => `tta ${r.tta} threshold ${r.threshold}: ${(r.surfaceDice as number).toFixed(4)}`).join(', ')}`);
  all.push(...rows);
}
const configs = [false, true].flatMap((tta) => thresholds.map((threshold) => {
  const rs = all.filter((r) => r.tta === tta && r.threshold === threshold);
  const mean = (key: string) => rs.reduce((a, r) => a + (r[key] as number), 0) / rs.length;
  return { tta, threshold, 'mean surface Dice': mean('surfaceDice'), 'mean Dice': mean('dice') };
}));
console.log(markdownTable(configs));
const trained = { ...body, ...overrides, ...(dataset === 'vesselnn' ? { validationVolumes: 'leave-one-volume-out' } : {}) };
console.log(JSON.stringify({ dataset, spec: trained, minutes: Number(((Date.now() - t0) / 60000).toFixed(1)), configs }));
process.exit(0);
