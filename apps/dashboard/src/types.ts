// Shapes of the API's answers, the types of the schemas the API serialises through (types only:
// nothing of them is bundled).
import type { Experiment, QueueState, SweepDetail } from '@capillary/contracts/api';

export type { EpochMetric, Experiment, ExperimentDetail, ExperimentSpec, LeaderboardRow, QueueState, SweepDetail, UsageReport } from '@capillary/contracts/api';
export type Status = Experiment['status'];
export type SweepTrial = SweepDetail['trials'][number];
/** A worker as `GET /queue` answers it: its heartbeat, host and PID only for key holders. */
export type WorkerInfo = QueueState['workers'][number];

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
