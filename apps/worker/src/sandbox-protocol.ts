import type { ExperimentSpec } from '@capillary/contracts';
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
  | { type: 'start'; experimentId: string; spec: ExperimentSpec; train: VolumeRef[]; validation: VolumeRef[]; resume: Uint8Array | null }
  | { type: 'epoch-saved'; epoch: number }
  | { type: 'predict'; predictionId: string };

/** What the engine reports after each epoch (type only: the parent never loads tfjs). */
export type EpochReportMessage = EpochReport;

/** Training sandbox -> parent. */
export type FromSandbox =
  | { type: 'backend'; backend: string }
  | { type: 'progress'; epoch: number; step: number; steps: number; loss: number }
  | { type: 'epoch'; report: EpochReportMessage; checkpoint: Uint8Array }
  | { type: 'predict-progress'; volume: string; volumeIndex: number; volumes: number; slice: number; slices: number }
  | { type: 'done' }
  | { type: 'error'; message: string; unrecoverable: boolean };
