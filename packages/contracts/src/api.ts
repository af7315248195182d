// The API's response schemas: the server serialises through them, and the dashboard reads its
// answers by their Static types. Reached as `@capillary/contracts/api`, apart from the index: the
// names clash with the index's own (`PredictionOutput`), and the browser never meets the env parser.
import { Type, type Static, type TSchema } from 'typebox';
import { AshaSettings, ExperimentRequest, ExperimentSpec, PbtSettings, PredictionOptions, SweepSpec } from './spec.ts';
import { SCORE_SOURCES, VALIDATION_SCOPES } from './events.ts';
import { WorkerHeartbeat } from './heartbeat.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const When = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

// Every response schema closes its objects (additionalProperties: false): the serializer then drops
// whatever a route does not declare, so a column added to a table never leaks by accident.
const Closed = { additionalProperties: false } as const;

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  issues: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }, Closed))),
}, Closed);

/** The spec fields copied into typed columns: what the seed team's tables compare. */
const RunColumns = {
  model: Type.String(),
  encoder: Type.String(),
  inputMode: Type.String(),
  epochs: Type.Integer(),
  lr: Type.Number(),
  augmentationP: Type.Number(),
  batchSize: Type.Integer(),
  seed: Type.Integer(),
};

/**
 * The stored spec as answered: typed as the full spec, but serialised with every field optional, so a
 * row whose JSON misses a field (written by hand or by an older version) is answered instead of
 * failing the whole list with a 500. Unknown fields are still dropped.
 */
const StoredSpec = Type.Unsafe<Static<typeof ExperimentSpec>>(SweepSpec.properties.base);

/** Where the score comes from, and whether the private score may be shown. */
const ScoreColumns = {
  scoreSource: Nullable(Type.Enum(SCORE_SOURCES, { description: 'public_test: mean public-test surface Dice of the best checkpoint; validation: the best epoch\'s validation score; training: the same, measured on the training volumes (the dataset has no validation volumes)' })),
  validationScore: Nullable(Type.Number({ description: 'The best epoch\'s validation surface Dice (Dice where surface Dice is undefined)' })),
  validatedOnTraining: Type.Boolean({ description: 'The best epoch was chosen on the training volumes themselves' }),
  validationCrops: Type.Boolean({ description: 'validationScore is a mean over crops of the validation volumes (the spec\'s validation budget); a score from it is marked as a crop score until wholeValidationScore is known' }),
  wholeValidationScore: Nullable(Type.Number({ description: 'The best checkpoint\'s score on the whole validation volumes, scored at the end of a run validated on crops; it then replaces the crop score as the score' })),
  privateRevealed: Type.Boolean({ description: 'The sweep or lone experiment is closed: privateScore is answered' }),
};

/**
 * `paused` and `stopped` are ASHA's: waiting at a rung for a promotion, and not promoted (terminal).
 * `held`: a sweep's trial waiting for a place under the sweep's `maxConcurrent`, not yet queued.
 */
export const ExperimentStatus = Type.Enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'paused', 'stopped', 'held']);

const ExperimentProperties = {
  id: Type.String({ format: 'uuid' }),
  name: NullableString,
  spec: StoredSpec,
  sweepId: NullableString,
  ...RunColumns,
  status: ExperimentStatus,
  /** The scheduling level asked for; null: the default. */
  priority: Nullable(Type.Integer()),
  attempts: Type.Integer(),
  workerId: NullableString,
  backend: NullableString,
  /** First line only: stack traces go to the logs, never into a response. */
  errorMessage: NullableString,
  score: NullableNumber,
  ...ScoreColumns,
  /** Present only once the experiment's sweep (or the lone experiment) is closed, so nobody tunes to the private test set. */
  privateScore: Type.Optional(NullableNumber),
  bestEpoch: Nullable(Type.Integer()),
  /** ASHA trials: the rung (0-based) trained toward, waited at or stopped at; null otherwise. */
  rung: Nullable(Type.Integer()),
  createdAt: Type.String({ format: 'date-time' }),
  startedAt: When,
  finishedAt: When,
  /** A lone experiment closed (its private score revealed); sweep members close with their sweep. */
  closedAt: When,
};

export const Experiment = Type.Object(ExperimentProperties, Closed);

export const EpochMetric = Type.Object({
  epoch: Type.Integer(),
  trainLoss: Type.Number(),
  valLoss: NullableNumber,
  dice: NullableNumber,
  surfaceDice: NullableNumber,
  learningRate: Type.Number(),
  durationMs: Type.Integer(),
  validationScope: Nullable(Type.Enum(VALIDATION_SCOPES, { description: 'whole: the validation volumes; crops: the run\'s fixed crops of them (scores are means over crops); null: the epoch did not validate' })),
  validationCrops: Nullable(Type.Integer({ description: 'Crops validated (0 for whole volumes)' })),
  validationMs: Nullable(Type.Integer({ description: 'Wall time of the validation, part of durationMs' })),
}, Closed);

export const Checkpoint = Type.Object({
  epoch: Type.Integer(),
  s3Key: Type.String(),
  bytes: Type.Integer(),
  sha256: Type.String(),
  isBest: Type.Boolean(),
}, Closed);

export const Attempt = Type.Object({
  number: Type.Integer(),
  workerId: Type.String(),
  backend: NullableString,
  resumedFromEpoch: Type.Integer(),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: When,
  outcome: NullableString,
}, Closed);

export const ExperimentDetail = Type.Object(
  { ...ExperimentProperties, epochMetrics: Type.Array(EpochMetric), checkpoints: Type.Array(Checkpoint), attemptLog: Type.Array(Attempt) },
  Closed,
);

export const LeaderboardRow = Type.Object(
  {
    rank: Nullable(Type.Integer()),
    experimentId: Type.String(),
    name: NullableString,
    sweepId: NullableString,
    sweepName: NullableString,
    ...RunColumns,
    score: NullableNumber,
    ...ScoreColumns,
    bestEpoch: Nullable(Type.Integer()),
    /** Null until the sweep (or lone experiment) is closed. */
    privateScore: NullableNumber,
    status: ExperimentStatus,
    backend: NullableString,
    attempts: Type.Integer(),
    durationMs: NullableNumber,
    createdAt: Type.String(),
    finishedAt: NullableString,
  },
  Closed,
);

export { ExperimentRequest, ExperimentSpec, SweepSpec };
// The vocabularies the dashboard's forms offer.
export { AXES, ENCODER_NAMES, LOSS_NAMES, MODEL_NAMES, NORMALIZATIONS } from './spec.ts';

/** One predicted volume (`PredictionOutput` in packages/contracts). */
export const PredictionOutput = Type.Object({
  volumeId: Type.String(),
  volume: Type.String(),
  role: Type.String(),
  maskKey: Type.String(),
  shape: Type.Array(Type.Integer(), { minItems: 3, maxItems: 3 }),
  foregroundVoxels: Type.Integer(),
  surfaceDice: NullableNumber,
  dice: NullableNumber,
  threshold: Type.Optional(Type.Number({ description: 'Probability threshold used (found per volume with positiveFraction)' })),
  pseudoLabels: Type.Optional(Type.Object({
    labelKey: Type.String(),
    targetFraction: Type.Number(),
    foregroundVoxels: Type.Integer(),
  }, { ...Closed, description: 'Dense label array made for a sparse volume (pseudoLabelDataset)' })),
}, Closed);

/** A sharded prediction's progress: shards its attempt planned and committed (null on one worker). */
export const ShardProgress = Nullable(Type.Object({ planned: Type.Integer(), committed: Type.Integer() }, Closed));

export const Prediction = Type.Object({
  id: Type.String({ format: 'uuid' }),
  experimentId: Type.String({ format: 'uuid' }),
  datasetName: Type.String(),
  options: Type.Partial(PredictionOptions),
  status: ExperimentStatus,
  attempts: Type.Integer({ description: 'Attempts opened so far; more than 1 after a hand-over' }),
  outputs: Type.Array(PredictionOutput),
  csvKey: NullableString,
  errorMessage: NullableString,
  shards: ShardProgress,
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: When,
}, Closed);

/** One trial of `GET /sweeps/:id`: what it varied, how it scored, and its curve. */
export const SweepTrial = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: NullableString,
  trialIndex: Nullable(Type.Integer()),
  status: ExperimentStatus,
  rung: Nullable(Type.Integer()),
  score: NullableNumber,
  /** The values of the sweep's varied fields (`params` of the sweep); lists joined with commas. */
  params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  curve: Type.Array(Type.Object({ epoch: Type.Integer(), trainLoss: Type.Number(), valLoss: NullableNumber, surfaceDice: NullableNumber }, Closed)),
}, Closed);

/** `GET /sweeps/:id`: the sweep page's data (parallel coordinates, score per parameter, ASHA rungs, curves). */
export const SweepDetail = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  strategy: Type.String(),
  asha: Nullable(AshaSettings),
  /** At most this many trials queued or running at once (the others wait, held); null: no cap. */
  maxConcurrent: Nullable(Type.Integer()),
  createdAt: Type.String({ format: 'date-time' }),
  closedAt: When,
  /** The spec fields the strategy varies (grid lists or space distributions), in request order. */
  params: Type.Array(Type.String()),
  /** ASHA only: per rung, its epoch, how many trials finished it and which went on. */
  rungs: Type.Array(Type.Object({ rung: Type.Integer(), epoch: Type.Integer(), finished: Type.Integer(), promoted: Type.Array(Type.String()) }, Closed)),
  /** PBT only: the population's settings. */
  pbt: Nullable(PbtSettings),
  /**
   * PBT only, in order: each exploit, where `experimentId` took `fromExperimentId`'s checkpoint of
   * `fromEpoch` at `epoch` and went on with `after` in place of `before` (the space's fields).
   */
  lineage: Type.Array(Type.Object({
    experimentId: Type.String({ format: 'uuid' }),
    epoch: Type.Integer(),
    fromExperimentId: Type.String({ format: 'uuid' }),
    fromEpoch: Type.Integer(),
    before: Type.Record(Type.String(), Type.Unknown()),
    after: Type.Record(Type.String(), Type.Unknown()),
  }, Closed)),
  trials: Type.Array(SweepTrial),
}, Closed);

/** A worker as `GET /queue` answers it: its heartbeat, where it runs withheld from anonymous readers. */
export const QueueWorker = Type.Object({
  ...WorkerHeartbeat.properties,
  /** Not for anonymous readers (AUTH_READS=open): where the worker runs is no one else's business. */
  host: Type.Optional(WorkerHeartbeat.properties.host),
  pid: Type.Optional(WorkerHeartbeat.properties.pid),
}, Closed);

/** A queued trial of the project that no live worker can hold: its estimated step memory exceeds every worker's capacity. */
export const UnfittableTrial = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Nullable(Type.String()),
  /** Estimated peak memory of one training step, in MB (the estimate MAX_STEP_MEMORY_MB judges). */
  estimatedMB: Type.Number(),
  message: Type.String(),
}, Closed);

/** `GET /queue`: job counts of the training queue, the live workers, and the project's queued trials none of them can hold. */
export const QueueState = Type.Object({
  counts: Type.Record(Type.String(), Type.Integer()),
  workers: Type.Array(QueueWorker),
  /** The largest capacity (WORKER_MEMORY_MB) among live workers that publish one; null when none does. */
  largestCapacityMB: Nullable(Type.Number()),
  /**
   * Queued trials larger than largestCapacityMB, oldest first (at most 100). They stay queued: a
   * larger worker that joins later takes them.
   */
  unfittable: Type.Array(UnfittableTrial),
  /** All such trials of the project, beyond the 100 listed too. */
  unfittableTotal: Type.Integer(),
}, Closed);

/** What `GET /usage` sums by. */
export const USAGE_GROUPS = ['user', 'sweep', 'dataset'] as const;
const UsageSeconds = Type.Number({ minimum: 0, description: 'worker-seconds: each attempt from its start to its end, or to now while it runs' });
const UsageSums = {
  workerSeconds: UsageSeconds,
  attempts: Type.Integer({ description: 'every attempt: first tries, hand-overs, retries and re-runs' }),
  handOvers: Type.Integer({ description: 'attempts that ended with the run handed back to the queue (worker shut down or lost, taken over)' }),
  running: Type.Integer({ description: 'attempts still open' }),
  runs: Type.Integer({ description: 'distinct experiments' }),
};
const UsageGroup = Type.Object({
  id: Type.Union([Type.String(), Type.Null()], { description: "the user's, sweep's or dataset's id; null: runs of no sweep, or made before users existed" }),
  name: Nullable(Type.String()),
  ...UsageSums,
  backends: Type.Array(Type.Object({ backend: Type.Union([Type.String(), Type.Null()], { description: 'null: the attempt ended before it recorded one' }), workerSeconds: UsageSeconds, attempts: Type.Integer() }, Closed)),
}, Closed);
/** `GET /usage`: the project's worker-seconds by user, sweep or dataset, most first, and the total. */
export const UsageReport = Type.Object({
  by: Type.Enum(USAGE_GROUPS),
  from: When,
  to: When,
  groups: Type.Array(UsageGroup, { description: 'most worker-seconds first' }),
  total: Type.Object(UsageSums, Closed),
}, Closed);
export type UsageReport = Static<typeof UsageReport>;

export type ErrorBody = Static<typeof ErrorBody>;
export type ExperimentStatus = Static<typeof ExperimentStatus>;
export type Experiment = Static<typeof Experiment>;
export type EpochMetric = Static<typeof EpochMetric>;
export type Checkpoint = Static<typeof Checkpoint>;
export type Attempt = Static<typeof Attempt>;
export type ExperimentDetail = Static<typeof ExperimentDetail>;
export type LeaderboardRow = Static<typeof LeaderboardRow>;
export type PredictionOutput = Static<typeof PredictionOutput>;
export type ShardProgress = Static<typeof ShardProgress>;
export type Prediction = Static<typeof Prediction>;
export type SweepTrial = Static<typeof SweepTrial>;
export type SweepDetail = Static<typeof SweepDetail>;
export type QueueWorker = Static<typeof QueueWorker>;
export type QueueState = Static<typeof QueueState>;
export type UnfittableTrial = Static<typeof UnfittableTrial>;
