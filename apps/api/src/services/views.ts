// What leaves the API of a row: the declared fields only, dates as ISO strings, error messages
// without their stack, and the private score only when its sweep is closed.
import type { Static } from 'typebox';
import type { Attempt, Checkpoint, EpochMetric, Experiment as ExperimentRow, Prediction as PredictionRow } from '@capillary/db';
import type { ExperimentSpec, PredictionOutput as Output, ScoreSource, ValidationScope } from '@capillary/contracts';
import type { Experiment, ExperimentDetail, Prediction } from '@capillary/contracts/api';

/** The first line of a message: the rest of a stored error is a stack trace, which stays in the logs. */
export function firstLine(message: string): string;
export function firstLine(message: string | null): string | null;
export function firstLine(message: string | null): string | null {
  if (message === null) return null;
  const end = message.indexOf('\n');
  return (end === -1 ? message : message.slice(0, end)).trimEnd();
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

export type ExperimentWithSweep = ExperimentRow & { sweep?: { closedAt: Date | null } | null };

/**
 * Whether an experiment's private-test scores may be answered: its sweep is closed, or, outside
 * any sweep, the experiment itself is. The one test every route's view goes through.
 */
export function privateRevealed(e: { sweepId: string | null; closedAt: Date | null; sweep?: { closedAt: Date | null } | null }): boolean {
  return e.sweepId ? !!e.sweep?.closedAt : !!e.closedAt;
}

/** What the API says about an experiment's scores besides `score` (private one only once revealed). */
export function scoreFields(e: ExperimentWithSweep) {
  const revealed = privateRevealed(e);
  return {
    scoreSource: (e.scoreSource ?? null) as ScoreSource | null,
    validationScore: e.validationScore,
    validatedOnTraining: e.validatedOnTraining,
    validationCrops: e.validationCrops,
    wholeValidationScore: e.wholeValidationScore,
    privateRevealed: revealed,
    privateScore: revealed ? e.privateScore : null,
  };
}

export function experimentView(e: ExperimentWithSweep): Static<typeof Experiment> {
  const { privateScore, ...scores } = scoreFields(e);
  const view: Static<typeof Experiment> = {
    id: e.id,
    name: e.name,
    spec: e.spec as unknown as ExperimentSpec,
    sweepId: e.sweepId,
    model: e.model,
    encoder: e.encoder,
    inputMode: e.inputMode,
    epochs: e.epochs,
    lr: e.lr,
    augmentationP: e.augmentationP,
    batchSize: e.batchSize,
    seed: e.seed,
    status: e.status,
    priority: e.priority,
    attempts: e.attempts,
    workerId: e.workerId,
    backend: e.backend,
    errorMessage: firstLine(e.errorMessage),
    score: e.score,
    bestEpoch: e.bestEpoch,
    rung: e.rung,
    createdAt: e.createdAt.toISOString(),
    startedAt: iso(e.startedAt),
    finishedAt: iso(e.finishedAt),
    closedAt: iso(e.closedAt),
    ...scores,
  };
  if (scores.privateRevealed) view.privateScore = privateScore;
  return view;
}

export function experimentDetailView(
  e: ExperimentWithSweep & { epochMetrics: EpochMetric[]; checkpoints: Checkpoint[]; attemptLog: Attempt[] },
): Static<typeof ExperimentDetail> {
  return {
    ...experimentView(e),
    epochMetrics: e.epochMetrics.map((m) => ({
      epoch: m.epoch, trainLoss: m.trainLoss, valLoss: m.valLoss, dice: m.dice, surfaceDice: m.surfaceDice, learningRate: m.learningRate, durationMs: m.durationMs,
      validationScope: m.validationScope as ValidationScope | null, validationCrops: m.validationCrops, validationMs: m.validationMs,
    })),
    checkpoints: e.checkpoints.map((c) => ({ epoch: c.epoch, s3Key: c.s3Key, bytes: c.bytes, sha256: c.sha256, isBest: c.isBest })),
    attemptLog: e.attemptLog.map((a) => ({
      number: a.number, workerId: a.workerId, backend: a.backend, resumedFromEpoch: a.resumedFromEpoch,
      startedAt: a.startedAt.toISOString(), endedAt: iso(a.endedAt), outcome: a.outcome === null ? null : firstLine(a.outcome),
    })),
  };
}

/** The experiment a prediction was made with, as far as revealing private-test scores goes. */
export type PredictionWithExperiment = PredictionRow & { experiment: Parameters<typeof privateRevealed>[0] };

/**
 * A prediction output of a private-test volume keeps its mask but not its scores until the
 * experiment's private scores are revealed: a prediction would otherwise tell them early.
 */
export function revealedOutputs(outputs: Output[], revealed: boolean): Output[] {
  return revealed ? outputs : outputs.map((o) => (o.role === 'private_test' ? { ...o, surfaceDice: null, dice: null } : o));
}

export function predictionView(p: PredictionWithExperiment): Static<typeof Prediction> {
  return {
    id: p.id,
    experimentId: p.experimentId,
    datasetName: p.datasetName,
    options: p.options as Static<typeof Prediction>['options'],
    status: p.status,
    attempts: p.attempts,
    outputs: revealedOutputs(p.outputs as unknown as Output[], privateRevealed(p.experiment)) as Static<typeof Prediction>['outputs'],
    csvKey: p.csvKey,
    errorMessage: firstLine(p.errorMessage),
    shards: shardProgress(p),
    createdAt: p.createdAt.toISOString(),
    finishedAt: iso(p.finishedAt),
  };
}

/** Shards planned and committed by a sharded prediction's attempt; null when one worker predicts it. */
export function shardProgress(p: { shardsPlanned: number | null; shards: unknown }): { planned: number; committed: number } | null {
  return p.shardsPlanned === null ? null : { planned: p.shardsPlanned, committed: Object.keys((p.shards ?? {}) as object).length };
}
