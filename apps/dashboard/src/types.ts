// Shapes of the API's answers, taken from the API's own schemas (types only: nothing of the
// server is bundled).
import type { Static } from 'typebox';
import type {
  LeaderboardRow as LeaderboardRowSchema,
  Experiment as ExperimentSchema,
  ExperimentDetail as ExperimentDetailSchema,
  EpochMetric as EpochMetricSchema,
  SweepDetail as SweepDetailSchema,
} from '../../api/src/schemas.ts';
import type { ExperimentSpec as Spec } from '../../../packages/contracts/src/spec.ts';

export type LeaderboardRow = Static<typeof LeaderboardRowSchema>;
export type Experiment = Static<typeof ExperimentSchema>;
export type ExperimentDetail = Static<typeof ExperimentDetailSchema>;
export type EpochMetric = Static<typeof EpochMetricSchema>;
export type ExperimentSpec = Spec;
export type Status = Experiment['status'];
export type SweepDetail = Static<typeof SweepDetailSchema>;
export type SweepTrial = SweepDetail['trials'][number];

export interface SweepSummary {
  id: string;
  name: string;
  createdAt: string;
  closedAt: string | null;
  experiments: number;
}

export interface VolumeSummary {
  id: string;
  name: string;
  role: string;
  dtype: string;
  depth: number;
  height: number;
  width: number;
  hasLabels: boolean;
}

export interface DatasetSummary {
  id: string;
  name: string;
  description: string | null;
  volumes: VolumeSummary[];
}

export interface WorkerInfo {
  id: string;
  backend: string;
  concurrency: number;
  running: string[];
  lastSeen: string;
  host?: string;
}

export interface QueueState {
  counts: Record<string, number>;
  workers: WorkerInfo[];
}

/** `GET /volumes/:id`: a volume and the predictions that cover it. */
export interface VolumeDetail {
  volume: VolumeSummary & { datasetId: string; datasetName: string };
  predictions: {
    id: string;
    experimentId: string;
    experimentName: string | null;
    status: Status;
    createdAt: string;
    surfaceDice: number | null;
    dice: number | null;
    foregroundVoxels: number | null;
    /** A sharded prediction's shards: planned and committed so far (null on one worker). */
    shards: { planned: number; committed: number } | null;
  }[];
}

export const TERMINAL: readonly Status[] = ['succeeded', 'failed', 'cancelled', 'stopped'];
