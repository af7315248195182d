// The training sandbox's messages: the worker's parent process and the child that loads tfjs talk
// over IPC in these shapes, so both sides read them from here rather than from each other.
import type { EpochMetrics, PredictionOutput, PredictionProgress } from './events.ts';
import type { ExperimentSpec, PredictionOptions } from './spec.ts';

/** What the engine reports after each epoch; the sandbox sends it on to the parent with the checkpoint. */
export interface EpochReport extends EpochMetrics {
  /** This epoch has the best validation score so far (surface Dice, else Dice). */
  isBest: boolean;
}

/** A volume as the sandbox needs it: the registered row's storage fields. */
export interface VolumeRef {
  id: string;
  name: string;
  role: string;
  imageKey: string;
  labelKey: string | null;
  maskKey: string | null;
  dtype: string;
  depth: number;
  height: number;
  width: number;
  stats: unknown;
}

/** Parent -> training sandbox. */
export type ToSandbox =
  | { type: 'start'; experimentId: string; spec: ExperimentSpec; train: VolumeRef[]; validation: VolumeRef[]; resume: Uint8Array | null; stopAfterEpoch?: number; retuned?: boolean }
  | { type: 'epoch-saved'; epoch: number }
  /** `shards`: the committed shards of a sharded prediction, merged instead of predicting their volumes. */
  | { type: 'predict'; predictionId: string; attempt: number; shards?: CommittedShard[] }
  /** One shard of a sharded prediction, stored at `key`. */
  | { type: 'predict-shard'; predictionId: string; volumeId: string; plane: 'xy' | 'xz' | 'yz'; start: number; end: number; key: string }
  /** The end-of-training scoring: the best checkpoint predicts and scores the test volumes. */
  | { type: 'score'; spec: ExperimentSpec; options: PredictionOptions; checkpoint: Uint8Array; volumes: VolumeRef[] };

/** A shard's planes [start, end) along `plane` of one volume, stored at 16 bits under `key`. */
export interface CommittedShard {
  volumeId: string;
  plane: 'xy' | 'xz' | 'yz';
  start: number;
  end: number;
  key: string;
}

/** One scored test volume. */
export interface VolumeScore {
  volumeId: string;
  volume: string;
  role: string;
  surfaceDice: number | null;
  dice: number | null;
}

/** Training sandbox -> parent. */
export type FromSandbox =
  | { type: 'backend'; backend: string }
  | { type: 'progress'; epoch: number; step: number; steps: number; loss: number }
  | { type: 'epoch'; report: EpochReport; checkpoint: Uint8Array }
  | ({ type: 'predict-progress' } & PredictionProgress)
  | { type: 'predicted'; outputs: PredictionOutput[]; csvKey: string }
  | { type: 'shard-progress'; planes: number }
  /** A shard's array is stored: its chunk bytes in S3. */
  | { type: 'shard-stored'; bytes: number }
  | ({ type: 'score-progress' } & PredictionProgress)
  | { type: 'scored'; scores: VolumeScore[] }
  | { type: 'done' }
  /** `infrastructure`: a service was unreachable, not the run's fault; `unrecoverable`: retrying cannot help. */
  | { type: 'error'; message: string; unrecoverable: boolean; infrastructure: boolean; outOfMemory: boolean };
