import type { ExperimentSpec, PredictionOptions, PredictionOutput, PredictionProgress } from '@capillary/contracts';
import type { EpochReport } from '@capillary/engine';

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
  | { type: 'start'; experimentId: string; spec: ExperimentSpec; train: VolumeRef[]; validation: VolumeRef[]; resume: Uint8Array | null; stopAfterEpoch?: number }
  | { type: 'epoch-saved'; epoch: number }
  | { type: 'predict'; predictionId: string; attempt: number }
  /** The end-of-training scoring: the best checkpoint predicts and scores the test volumes. */
  | { type: 'score'; spec: ExperimentSpec; options: PredictionOptions; checkpoint: Uint8Array; volumes: VolumeRef[] };

/** One scored test volume. */
export interface VolumeScore {
  volumeId: string;
  volume: string;
  role: string;
  surfaceDice: number | null;
  dice: number | null;
}

/** What the engine reports after each epoch (type only: the parent never loads tfjs). */
export type EpochReportMessage = EpochReport;

/** Training sandbox -> parent. */
export type FromSandbox =
  | { type: 'backend'; backend: string }
  | { type: 'progress'; epoch: number; step: number; steps: number; loss: number }
  | { type: 'epoch'; report: EpochReportMessage; checkpoint: Uint8Array }
  | ({ type: 'predict-progress' } & PredictionProgress)
  | { type: 'predicted'; outputs: PredictionOutput[]; csvKey: string }
  | ({ type: 'score-progress' } & PredictionProgress)
  | { type: 'scored'; scores: VolumeScore[] }
  | { type: 'done' }
  /** `infrastructure`: a service was unreachable, not the run's fault; `unrecoverable`: retrying cannot help. */
  | { type: 'error'; message: string; unrecoverable: boolean; infrastructure: boolean; outOfMemory: boolean };
