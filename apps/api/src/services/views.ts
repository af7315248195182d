// What leaves the API of a row: the declared fields only, dates as ISO strings, error messages
// without their stack, and the private score only when its sweep is closed.
import type { Static } from 'typebox';
import type { Attempt, Checkpoint, EpochMetric, Experiment as ExperimentRow, Prediction as PredictionRow } from '@capillary/db';
import type { ExperimentSpec } from '@capillary/contracts';
import type { Experiment, ExperimentDetail, Prediction } from '../schemas.ts';

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

export function experimentView(e: ExperimentWithSweep): Static<typeof Experiment> {
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
  };
  if (e.sweep?.closedAt) view.privateScore = e.privateScore;
  return view;
}

export function experimentDetailView(
  e: ExperimentWithSweep & { epochMetrics: EpochMetric[]; checkpoints: Checkpoint[]; attemptLog: Attempt[] },
): Static<typeof ExperimentDetail> {
  return {
    ...experimentView(e),
    epochMetrics: e.epochMetrics.map((m) => ({
      epoch: m.epoch, trainLoss: m.trainLoss, valLoss: m.valLoss, dice: m.dice, surfaceDice: m.surfaceDice, learningRate: m.learningRate, durationMs: m.durationMs,
    })),
    checkpoints: e.checkpoints.map((c) => ({ epoch: c.epoch, s3Key: c.s3Key, bytes: c.bytes, sha256: c.sha256, isBest: c.isBest })),
    attemptLog: e.attemptLog.map((a) => ({
      number: a.number, workerId: a.workerId, backend: a.backend, resumedFromEpoch: a.resumedFromEpoch,
      startedAt: a.startedAt.toISOString(), endedAt: iso(a.endedAt), outcome: a.outcome === null ? null : firstLine(a.outcome),
    })),
  };
}

export function predictionView(p: PredictionRow): Static<typeof Prediction> {
  return {
    id: p.id,
    experimentId: p.experimentId,
    datasetName: p.datasetName,
    options: p.options as Static<typeof Prediction>['options'],
    status: p.status,
    attempts: p.attempts,
    outputs: p.outputs as Static<typeof Prediction>['outputs'],
    csvKey: p.csvKey,
    errorMessage: firstLine(p.errorMessage),
    createdAt: p.createdAt.toISOString(),
    finishedAt: iso(p.finishedAt),
  };
}
