import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Upload } from '@aws-sdk/lib-storage';
import { env, ExperimentSpec, PredictionOptions, Validator, type PredictionOutput, type PredictionProgress, type CommittedShard, type VolumeRef } from '@capillary/contracts';
import { predictionCsvKey, predictionMaskKey, pseudoLabelKey, bucketName, getObject, s3Client } from '@capillary/storage';
import type { PrismaClient } from '@capillary/db';
import {
  selectBackend, loadModelFromCheckpoint, predictVolume, finishVolume, predictPlaneRange, predictionGrid, planeShape, ShardedAxisSource,
  type AxisSources, type Predictor, type PlaneAxis, type PredictOptions,
} from '@capillary/engine';
import { SubmissionWriter, SurfaceDiceStream } from '@capillary/metric';
import { clipToFieldOfView, ZarrSliceWriter, openVolume, ZarrSliceWriter as ShardWriter, chunkShapeFor, ComputedCache } from '@capillary/volumes';
import { sha256 } from './checkpoints.ts';

const specValidator = new Validator('experiment spec', ExperimentSpec);
const optionsValidator = new Validator('prediction options', PredictionOptions);

/** A volume whose labels cover only part of its vessels. */
const isSparse = (v: { labelKey: string | null; labelDensity: number }) => !!v.labelKey && v.labelDensity < 1;

/**
 * Positive fraction a sparse volume's pseudo-labels aim at: its labelled vessel fraction divided by
 * the share of vessels that carry labels (3rd place: 85 % for kidney_3 sparse, 65 % for kidney_2).
 */
export function pseudoLabelTarget(v: { labelDensity: number; stats: unknown }): number {
  const labelled = (v.stats as { foregroundFraction?: number | null }).foregroundFraction ?? 0;
  return Math.min(1, Math.max(1e-9, labelled / v.labelDensity));
}

/** Error for inputs retrying cannot fix (no checkpoint, no volumes). */
export class PredictionInputError extends Error {
  readonly unrecoverable = true;
  constructor(message: string) {
    super(message);
    this.name = 'PredictionInputError';
  }
}

export type { PredictionOutput, PredictionProgress };

/**
 * Predicts every volume of a dataset with an experiment's best checkpoint. Slices stream in and
 * mask slices stream out to a Zarr array and a submission CSV, so memory does not grow with depth.
 * Reads rows but writes none: the caller records the result through the registry, under the
 * attempt whose number is part of every key written here.
 */
export async function runPrediction(
  db: PrismaClient,
  predictionId: string,
  attempt: number,
  opts: { signal?: AbortSignal; onProgress?: (p: PredictionProgress) => void; shards?: CommittedShard[] } = {},
): Promise<{ outputs: PredictionOutput[]; csvKey: string }> {
  const { prediction, spec, options, checkpoint } = await predictionInputs(db, predictionId);
  const dataset = await db.dataset.findUnique({ where: { name: prediction.datasetName }, include: { volumes: { orderBy: { name: 'asc' } } } });
  if (!dataset || !dataset.volumes.length) throw new PredictionInputError(`dataset ${prediction.datasetName} has no volumes`);
  const pseudo = !!options.pseudoLabelDataset;
  if (pseudo && !dataset.volumes.some(isSparse)) throw new PredictionInputError(`dataset ${prediction.datasetName} has no volume with sparse labels (labelDensity < 1) to pseudo-label`);

  // Merging a prediction whose every volume is sharded needs no network: no backend, no checkpoint.
  const sharded = new Set(opts.shards?.map((s) => s.volumeId));
  const model = dataset.volumes.every((v) => sharded.has(v.id)) ? undefined : await loadCheckpoint(checkpoint);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'capillary-predict-'));
  const csvPath = path.join(tmp, 'submission.csv');
  const csv = new SubmissionWriter(createWriteStream(csvPath));
  const outputs: PredictionOutput[] = [];
  try {
    for (const [i, row] of dataset.volumes.entries()) {
      const shape: [number, number, number] = [row.depth, row.height, row.width];
      const maskKey = predictionMaskKey(predictionId, attempt, row.name);
      const writer = await ZarrSliceWriter.create(maskKey, { shape, dtype: 'uint8' });
      // A sparse volume is thresholded to the vessel share its labels imply at full coverage.
      const target = pseudo && isSparse(row) ? pseudoLabelTarget(row) : undefined;
      const pseudoKey = target !== undefined ? pseudoLabelKey(predictionId, attempt, row.name) : undefined;
      const pseudoWriter = pseudoKey ? await ZarrSliceWriter.create(pseudoKey, { shape, dtype: 'uint8' }) : undefined;
      let pseudoVoxels = 0;
      const shards = opts.shards?.filter((sh) => sh.volumeId === row.id) ?? [];
      const result = await predictAndScore(model, row, spec, options, {
        signal: opts.signal,
        sources: shards.length ? shardSources(shards, options.axes ?? spec.axes) : undefined,
        positiveFraction: target,
        onSlice: async (z, mask, truth) => {
          await writer.write(mask);
          if (pseudoWriter && truth) {
            // Known vessels stay vessels: the dense labels are the prediction united with the sparse ones.
            const dense = new Uint8Array(mask.length);
            for (let j = 0; j < dense.length; j++) if (mask[j] || truth[j]) (dense[j] = 1), pseudoVoxels++;
            await pseudoWriter.write(dense);
          }
          await csv.write(row.name, z, mask);
          opts.onProgress?.({ volume: row.name, volumeIndex: i, volumes: dataset.volumes.length, slice: z + 1, slices: row.depth });
        },
      });
      await writer.close();
      await pseudoWriter?.close();
      outputs.push({
        volumeId: row.id, volume: row.name, role: row.role, maskKey, shape, foregroundVoxels: result.foregroundVoxels,
        surfaceDice: result.surfaceDice, dice: result.dice, threshold: result.threshold,
        ...(pseudoKey ? { pseudoLabels: { labelKey: pseudoKey, targetFraction: target!, foregroundVoxels: pseudoVoxels } } : {}),
      });
    }
    await csv.end();
    const csvKey = predictionCsvKey(predictionId, attempt);
    // Multipart upload from the file: the CSV of a kidney can be larger than we want in memory.
    await new Upload({ client: s3Client(), params: { Bucket: bucketName(), Key: csvKey, Body: createReadStream(csvPath), ContentType: 'text/csv', ContentLength: statSync(csvPath).size } }).done();
    return { outputs, csvKey };
  } finally {
    model?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A registered volume as prediction reads it: the sandbox's volume reference, role aside. */
export type PredictableVolume = Omit<VolumeRef, 'role'>;

/**
 * Predicts one volume with the spec's and the options' settings and, when it is labelled, scores
 * it slice by slice with the streamed surface Dice. The one path of prediction jobs,
 * `capillary predict` and the end-of-training test scoring, so their scores agree exactly.
 */
export async function predictAndScore(
  model: Predictor | undefined,
  row: PredictableVolume,
  spec: ExperimentSpec,
  options: PredictionOptions,
  o: {
    signal?: AbortSignal;
    /** Overrides the options' positive fraction (pseudo-labels aim at a volume's own coverage). */
    positiveFraction?: number;
    /** Each mask slice, with the label slice when the volume is labelled. */
    onSlice?: (z: number, mask: Uint8Array, truth?: Uint8Array) => Promise<void>;
    /** The axes' probabilities from a sharded prediction's shards instead of this process's network. */
    sources?: AxisSources;
  },
): Promise<{ foregroundVoxels: number; threshold: number; surfaceDice: number | null; dice: number | null }> {
  const reader = openVolume(row);
  const score = row.labelKey ? new SurfaceDiceStream(row.height, row.width) : null;
  const settings: PredictOptions = {
    axes: options.axes ?? spec.axes,
    slices: spec.slices,
    tileSize: spec.tileSize,
    overlap: options.overlap,
    tta: options.tta,
    threshold: options.threshold ?? spec.threshold,
    positiveFraction: o.positiveFraction ?? options.positiveFraction,
    predictScale: options.predictScale,
    minComponentVoxels: options.minComponentVoxels || undefined,
    signal: o.signal,
    onSlice: async (z: number, mask: Uint8Array) => {
      const truth = row.labelKey ? await reader.readLabel('z', z, 1) : undefined;
      await o.onSlice?.(z, mask, truth);
      if (!score || !truth) return;
      // The stored mask stays whole; the score counts only voxels inside a field of view, like validation's.
      const scored = reader.hasMask ? mask.slice() : mask;
      await clipToFieldOfView(reader, z, truth, scored);
      score.push(truth, scored);
    },
  };
  if (!o.sources && !model) throw new Error(`volume ${row.name}: neither a network nor shards to predict it with`);
  const { foregroundVoxels, threshold } = o.sources ? await finishVolume(reader, settings, o.sources) : await predictVolume(model!, reader, settings);
  const result = score?.result();
  return { foregroundVoxels, threshold, surfaceDice: result?.surfaceDice ?? null, dice: result?.dice ?? null };
}

/** The rows a prediction reads: itself, its experiment's spec, its options and the checkpoint it predicts with. */
async function predictionInputs(db: PrismaClient, predictionId: string) {
  const prediction = await db.prediction.findUniqueOrThrow({ where: { id: predictionId }, include: { experiment: true } });
  const spec = specValidator.parse(prediction.experiment.spec);
  const options = optionsValidator.parse(prediction.options ?? {});
  const checkpoint =
    (await db.checkpoint.findFirst({ where: { experimentId: prediction.experimentId, isBest: true } })) ??
    (await db.checkpoint.findFirst({ where: { experimentId: prediction.experimentId }, orderBy: { epoch: 'desc' } }));
  if (!checkpoint) throw new PredictionInputError(`experiment ${prediction.experimentId} has no checkpoint yet`);
  return { prediction, spec, options, checkpoint };
}

async function loadCheckpoint(checkpoint: { s3Key: string; sha256: string }) {
  const bytes = await getObject(checkpoint.s3Key);
  if (!bytes || sha256(bytes) !== checkpoint.sha256) throw new Error(`checkpoint ${checkpoint.s3Key} is missing or does not match its sha256`);
  await selectBackend(env().TFJS_BACKEND, env().TFJS_THREADS);
  return loadModelFromCheckpoint(bytes);
}

/**
 * Predicts one shard of a sharded prediction: its planes, with the prediction's settings, into a
 * 16-bit Zarr array [planes, rows, cols] at `msg.key`. Reads rows, writes none.
 */
export async function predictShard(
  db: PrismaClient,
  msg: { predictionId: string; volumeId: string; plane: PlaneAxis; start: number; end: number; key: string },
  onPlanes?: (planes: number) => void,
): Promise<{ bytes: number }> {
  const { spec, options, checkpoint } = await predictionInputs(db, msg.predictionId);
  const row = await db.volume.findUnique({ where: { id: msg.volumeId } });
  if (!row) throw new PredictionInputError(`volume ${msg.volumeId} of prediction ${msg.predictionId} no longer exists`);
  const model = await loadCheckpoint(checkpoint);
  try {
    const reader = openVolume(row);
    const [, rows, cols] = planeShape(predictionGrid(reader, options.predictScale).shape, msg.plane);
    const writer = await ShardWriter.create(msg.key, { shape: [msg.end - msg.start, rows, cols], dtype: 'uint16' });
    let planes = 0;
    await predictPlaneRange(model, reader, msg, predictSettings(spec, options), async (q) => {
      await writer.write(q);
      onPlanes?.(++planes);
    });
    const { compressionRatio } = await writer.close();
    return { bytes: Math.round(((msg.end - msg.start) * rows * cols * 2) / compressionRatio) };
  } finally {
    model.dispose();
  }
}

/** The network settings of a prediction (the same for its shards and for one worker). */
function predictSettings(spec: ExperimentSpec, options: PredictionOptions) {
  return {
    slices: spec.slices, tileSize: spec.tileSize, overlap: options.overlap, tta: options.tta,
    threshold: options.threshold ?? spec.threshold, predictScale: options.predictScale,
  };
}

/**
 * The axes' probabilities of one volume read back from its committed shards along z, each chunk
 * decoded once: an axis's cache holds what the next slices' reads need and no more.
 */
function shardSources(shards: CommittedShard[], axes: readonly PlaneAxis[]): AxisSources {
  return (grid) => {
    const [, Y, X] = grid.shape;
    return axes.map((plane) => {
      const mine = shards.filter((s) => s.plane === plane).sort((a, b) => a.start - b.start);
      const [, rows, cols] = planeShape(grid.shape, plane);
      // What the reads of one z slice touch, kept while the next slices need it: one chunk layer of
      // whole planes of one shard (xy), or a band of chunk rows through every plane of every shard
      // (xz, yz). One cache per axis, so shards already read make room for the next.
      const touched = (n: number) => {
        const [depth, band] = chunkShapeFor([n, rows, cols]);
        return plane === 'xy' ? depth * rows * cols * 2 : n * band * cols * 2;
      };
      const sizes = mine.map((s) => touched(s.end - s.start));
      const memory = new ComputedCache<Uint8Array | Uint16Array>(1.25 * (plane === 'xy' ? Math.max(...sizes) : sizes.reduce((a, b) => a + b, 0)) + 2 ** 20);
      return new ShardedAxisSource(plane, mine.map((s) => {
        const n = s.end - s.start;
        const array = openVolume({ id: s.key, imageKey: s.key, dtype: 'uint16', depth: n, height: rows, width: cols, stats: {} }, { cache: null, memory });
        return {
          start: s.start,
          end: s.end,
          readRow: async (z: number) =>
            (plane === 'xy'
              ? array.readImageBox({ z0: z - s.start, z1: z - s.start + 1, y0: 0, y1: rows, x0: 0, x1: cols })
              : array.readImageBox({ z0: 0, z1: n, y0: z, y1: z + 1, x0: 0, x1: cols })) as Promise<Uint16Array>,
        };
      }), Y, X);
    });
  };
}
