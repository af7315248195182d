import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Upload } from '@aws-sdk/lib-storage';
import { env, ExperimentSpec, PredictionOptions, Validator, type PredictionOutput, type PredictionProgress } from '@capillary/contracts';
import { predictionCsvKey, predictionMaskKey } from '@capillary/registry/keys';
import type { PrismaClient } from '@capillary/db';
import { selectBackend, loadModelFromCheckpoint, predictVolume, type Predictor } from '@capillary/engine';
import { SubmissionWriter, SurfaceDiceStream } from '@capillary/metric';
import { bucketName, getObject, s3Client } from '@capillary/storage';
import { ZarrSliceWriter } from '@capillary/volumes/zarr-array';
import { openVolume } from '@capillary/volumes/zarr-volume';
import { sha256 } from './checkpoints.ts';

const specValidator = new Validator('experiment spec', ExperimentSpec);
const optionsValidator = new Validator('prediction options', PredictionOptions);

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
  opts: { signal?: AbortSignal; onProgress?: (p: PredictionProgress) => void } = {},
): Promise<{ outputs: PredictionOutput[]; csvKey: string }> {
  const prediction = await db.prediction.findUniqueOrThrow({ where: { id: predictionId }, include: { experiment: true } });
  const spec = specValidator.parse(prediction.experiment.spec);
  const options = optionsValidator.parse(prediction.options ?? {});
  const checkpoint =
    (await db.checkpoint.findFirst({ where: { experimentId: prediction.experimentId, isBest: true } })) ??
    (await db.checkpoint.findFirst({ where: { experimentId: prediction.experimentId }, orderBy: { epoch: 'desc' } }));
  if (!checkpoint) throw new PredictionInputError(`experiment ${prediction.experimentId} has no checkpoint yet`);
  const dataset = await db.dataset.findUnique({ where: { name: prediction.datasetName }, include: { volumes: { orderBy: { name: 'asc' } } } });
  if (!dataset || !dataset.volumes.length) throw new PredictionInputError(`dataset ${prediction.datasetName} has no volumes`);

  const bytes = await getObject(checkpoint.s3Key);
  if (!bytes || sha256(bytes) !== checkpoint.sha256) throw new Error(`checkpoint ${checkpoint.s3Key} is missing or does not match its sha256`);
  await selectBackend(env().TFJS_BACKEND, env().TFJS_THREADS);
  const model = loadModelFromCheckpoint(bytes);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'capillary-predict-'));
  const csvPath = path.join(tmp, 'submission.csv');
  const csv = new SubmissionWriter(createWriteStream(csvPath));
  const outputs: PredictionOutput[] = [];
  try {
    for (const [i, row] of dataset.volumes.entries()) {
      const shape: [number, number, number] = [row.depth, row.height, row.width];
      const maskKey = predictionMaskKey(predictionId, attempt, row.name);
      const writer = await ZarrSliceWriter.create(maskKey, { shape, dtype: 'uint8' });
      const result = await predictAndScore(model, row, spec, options, {
        signal: opts.signal,
        onSlice: async (z, mask) => {
          await writer.write(mask);
          await csv.write(row.name, z, mask);
          opts.onProgress?.({ volume: row.name, volumeIndex: i, volumes: dataset.volumes.length, slice: z + 1, slices: row.depth });
        },
      });
      await writer.close();
      outputs.push({
        volumeId: row.id, volume: row.name, role: row.role, maskKey, shape, foregroundVoxels: result.foregroundVoxels,
        surfaceDice: result.surfaceDice, dice: result.dice,
      });
    }
    await csv.end();
    const csvKey = predictionCsvKey(predictionId, attempt);
    // Multipart upload from the file: the CSV of a kidney can be larger than we want in memory.
    await new Upload({ client: s3Client(), params: { Bucket: bucketName(), Key: csvKey, Body: createReadStream(csvPath), ContentType: 'text/csv', ContentLength: statSync(csvPath).size } }).done();
    return { outputs, csvKey };
  } finally {
    model.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A registered volume as prediction reads it. */
export interface PredictableVolume {
  id: string;
  name: string;
  imageKey: string;
  labelKey: string | null;
  maskKey: string | null;
  dtype: string;
  depth: number;
  height: number;
  width: number;
  stats: unknown;
}

/**
 * Predicts one volume with the spec's and the options' settings and, when it is labelled, scores
 * it slice by slice with the streamed surface Dice. The one path of prediction jobs,
 * `capillary predict` and the end-of-training test scoring, so their scores agree exactly.
 */
export async function predictAndScore(
  model: Predictor,
  row: PredictableVolume,
  spec: ExperimentSpec,
  options: PredictionOptions,
  o: { signal?: AbortSignal; onSlice?: (z: number, mask: Uint8Array) => Promise<void> },
): Promise<{ foregroundVoxels: number; surfaceDice: number | null; dice: number | null }> {
  const reader = openVolume(row);
  const score = row.labelKey ? new SurfaceDiceStream(row.height, row.width) : null;
  const { foregroundVoxels } = await predictVolume(model, reader, {
    axes: options.axes ?? spec.axes,
    slices: spec.slices,
    tileSize: spec.tileSize,
    overlap: options.overlap,
    tta: options.tta,
    threshold: options.threshold ?? spec.threshold,
    minComponentVoxels: options.minComponentVoxels || undefined,
    signal: o.signal,
    onSlice: async (z, mask) => {
      await o.onSlice?.(z, mask);
      if (score) score.push(await reader.readLabel('z', z, 1), mask);
    },
  });
  const result = score?.result();
  return { foregroundVoxels, surfaceDice: result?.surfaceDice ?? null, dice: result?.dice ?? null };
}
