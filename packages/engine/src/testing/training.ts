/**
 * The training fixture engine tests share: small tube volumes, a spec that learns them in seconds,
 * a run that records every report, checkpoint and loss, and a checkpoint's parameters by name.
 */
import { Value } from 'typebox/value';
import { ExperimentSpec } from '@capillary/contracts';
import { decodeCheckpoint } from '../checkpoint.ts';
import { train, type EpochReport } from '../train.ts';
import { tubeVolume } from './tubes.ts';

export const tubeTrain = tubeVolume('train', [24, 48, 48], 1, 14);
export const tubeValidation = tubeVolume('val', [12, 48, 48], 2, 8);

export function tubeSpec(over: Partial<ExperimentSpec> = {}): ExperimentSpec {
  return Value.Default(ExperimentSpec, {
    dataset: 'tubes',
    model: 'unet',
    epochs: 3,
    lr: 0.01,
    tileSize: 32,
    batchSize: 4,
    stepsPerEpoch: 12,
    baseFilters: 4,
    depth: 2,
    augmentationP: 0.2,
    seed: 3,
    ...over,
  }) as ExperimentSpec;
}

export async function runTubes(s: ExperimentSpec, resume?: Uint8Array, stopAfterEpoch?: number, retuned?: boolean) {
  const reports: EpochReport[] = [];
  const checkpoints: Uint8Array[] = [];
  const losses: number[] = [];
  const result = await train({
    spec: s,
    train: [tubeTrain],
    validation: [tubeValidation],
    resume,
    stopAfterEpoch,
    retuned,
    onProgress: (p) => losses.push(p.loss),
    onEpoch: async (r, c) => {
      reports.push(r);
      checkpoints.push(c);
    },
  });
  return { result, reports, checkpoints, losses };
}

export function checkpointParams(bytes: Uint8Array): Map<string, Float32Array> {
  const ck = decodeCheckpoint(bytes);
  return new Map(ck.header.tensors.filter((t) => t.name.startsWith('param/')).map((t) => [t.name, ck.tensor(t.name)!.data]));
}
