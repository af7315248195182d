import { Type, type TSchema } from 'typebox';
import { ExperimentSpec, SweepSpec } from '@capillary/contracts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);
const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const When = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  issues: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
});

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

export const ExperimentStatus = Type.Enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']);

export const Experiment = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: NullableString,
    spec: ExperimentSpec,
    sweepId: NullableString,
    ...RunColumns,
    status: ExperimentStatus,
    attempts: Type.Integer(),
    workerId: NullableString,
    backend: NullableString,
    errorMessage: NullableString,
    score: NullableNumber,
    bestEpoch: Nullable(Type.Integer()),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: When,
    finishedAt: When,
  },
  { additionalProperties: true },
);

export const EpochMetric = Type.Object({
  epoch: Type.Integer(),
  trainLoss: Type.Number(),
  valLoss: NullableNumber,
  dice: NullableNumber,
  surfaceDice: NullableNumber,
  learningRate: Type.Number(),
  durationMs: Type.Integer(),
});

export const Checkpoint = Type.Object({
  epoch: Type.Integer(),
  s3Key: Type.String(),
  bytes: Type.Integer(),
  sha256: Type.String(),
  isBest: Type.Boolean(),
});

export const Attempt = Type.Object({
  number: Type.Integer(),
  workerId: Type.String(),
  backend: NullableString,
  resumedFromEpoch: Type.Integer(),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: When,
  outcome: NullableString,
});

export const ExperimentDetail = Type.Intersect([
  Experiment,
  Type.Object({ epochMetrics: Type.Array(EpochMetric), checkpoints: Type.Array(Checkpoint), attemptLog: Type.Array(Attempt) }),
]);

export const LeaderboardRow = Type.Object(
  {
    rank: Nullable(Type.Integer()),
    experimentId: Type.String(),
    name: NullableString,
    sweepId: NullableString,
    sweepName: NullableString,
    ...RunColumns,
    score: NullableNumber,
    bestEpoch: Nullable(Type.Integer()),
    privateScore: NullableNumber,
    status: ExperimentStatus,
    backend: NullableString,
    attempts: Type.Integer(),
    durationMs: NullableNumber,
    createdAt: Type.String(),
    finishedAt: NullableString,
  },
  { additionalProperties: false },
);

export { ExperimentSpec, SweepSpec };
