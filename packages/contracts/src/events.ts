// Shapes that cross process boundaries at run time: live experiment events (worker -> Redis
// pub/sub -> API -> SSE) and prediction outputs (worker sandbox -> registry -> API).

/** What one finished epoch measured: the engine reports it, the registry commits it, SSE shows it. */
export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  trainLoss: number;
  valLoss: number | null;
  dice: number | null;
  surfaceDice: number | null;
  /** Learning rate of the epoch's last step. */
  learningRate: number;
  durationMs: number;
  /**
   * What the epoch's validation scores were measured on: the whole validation volumes, or the run's
   * fixed validation crops (scores are then means over crops); null when the epoch did not validate
   * (`validation.every`). Absent from reports of workers older than validation budgets (whole).
   */
  validationScope?: ValidationScope | null;
  /** Crops validated (0 for whole volumes). */
  validationCrops?: number;
  /** Wall time of the validation, part of `durationMs`. */
  validationMs?: number;
  /** Voxels the network predicted to validate (tile voxels of every forward pass, TTA passes included). */
  validationVoxels?: number;
}

export const VALIDATION_SCOPES = ['whole', 'crops'] as const;
export type ValidationScope = (typeof VALIDATION_SCOPES)[number];

/**
 * Where an experiment's leaderboard score comes from: the dataset's public-test volumes, its
 * validation volumes, or, when it has none, the training volumes themselves.
 */
export const SCORE_SOURCES = ['public_test', 'validation', 'training'] as const;
export type ScoreSource = (typeof SCORE_SOURCES)[number];

/**
 * The end-of-run scoring of the test volumes, slice by slice. Never carries a score of a
 * private-test volume: those stay hidden until the sweep or experiment is closed.
 */
export interface ScoringProgress {
  /** Epoch whose checkpoint predicts. */
  epoch: number;
  volume: string;
  volumeIndex: number;
  volumes: number;
  slice: number;
  slices: number;
}

/** What a worker tells the world about an experiment while it runs. */
export type ExperimentEvent =
  | { type: 'status'; status: string; workerId?: string; attempt?: number; resumedFromEpoch?: number; error?: string }
  | { type: 'progress'; epoch: number; step: number; steps: number; loss: number }
  | ({ type: 'epoch' } & EpochMetrics)
  | ({ type: 'scoring' } & ScoringProgress)
  /** The test volumes are scored: the public score (private: never here). */
  | { type: 'scored'; epoch: number; score: number | null; scoreSource: ScoreSource };

/** One predicted volume: where its mask lives and, when the volume is labelled, its scores. */
export interface PredictionOutput {
  volumeId: string;
  volume: string;
  role: string;
  maskKey: string;
  shape: [number, number, number];
  foregroundVoxels: number;
  surfaceDice: number | null;
  dice: number | null;
  /** The probability threshold used (found per volume with a percentile threshold). */
  threshold?: number;
  /** The dense label array made for a sparse volume by a pseudo-label prediction. */
  pseudoLabels?: PseudoLabelOutput;
}

/** A pseudo-label array: where it is, the positive fraction aimed at, and what it holds. */
export interface PseudoLabelOutput {
  labelKey: string;
  /** Share of voxels the prediction was thresholded to (labelled fraction / coverage). */
  targetFraction: number;
  /** Positive voxels of the stored labels (prediction united with the sparse labels). */
  foregroundVoxels: number;
}

/** How far a prediction has got, for progress bars. */
export interface PredictionProgress {
  volume: string;
  volumeIndex: number;
  volumes: number;
  slice: number;
  slices: number;
}
