import type { Job } from 'bullmq';
import { epochScore, PredictionOptions, Validator, type ExperimentSpec, type ScoreSource, type VolumeRef, type VolumeScore } from '@capillary/contracts';
import type { ExperimentFence, TestScores } from '@capillary/registry';
import { getObject } from '@capillary/storage';
import { sha256 } from './checkpoints.ts';
import { bestEffort, infra, type JobContext } from './job-context.ts';
import type { RunControl } from './run-control.ts';
import { runSandbox } from './sandbox-runner.ts';
import { isTestRole, splitVolumes } from './volume-roles.ts';

const optionsValidator = new Validator('spec.predict', PredictionOptions);

/** Scoring events at most this often per run (and at each volume's last slice). */
const PROGRESS_EVERY_MS = 250;

const mean = (xs: (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

/** Mean surface Dice per test role: the public score and the private one. */
export function testScoresOf(epoch: number, scores: VolumeScore[]): TestScores {
  return {
    epoch,
    publicScore: mean(scores.filter((s) => s.role === 'public_test').map((s) => s.surfaceDice)),
    privateScore: mean(scores.filter((s) => s.role === 'private_test').map((s) => s.surfaceDice)),
  };
}

/**
 * How validation predicts (engine validate.ts): xy planes, overlap 0.25, flip TTA when the run
 * predicts with it, the spec's threshold, nothing removed; so a run's whole-volume validation score
 * measures what its crops' scores estimated.
 */
export function validationPredictOptions(spec: ExperimentSpec): PredictionOptions {
  return optionsValidator.parse({ axes: ['xy'], tta: spec.predict?.tta ?? false, overlap: 0.25, minComponentVoxels: 0, threshold: spec.threshold });
}

/** The whole-volume validation score: the best-epoch rule's score (surface Dice, else Dice) of the means over volumes. */
export function wholeValidationScoreOf(scores: VolumeScore[]): number | null {
  return epochScore({ surfaceDice: mean(scores.map((s) => s.surfaceDice)), dice: mean(scores.map((s) => s.dice)) });
}

/**
 * The end of a training run: the best checkpoint predicts the dataset's labelled public- and
 * private-test volumes with the spec's `predict` options, in a sandbox, through the same
 * predict-and-score path as prediction jobs, and the scores are written through the registry
 * under the run's fence. Reads wait out outages in place; a hand-over (shutdown, an outage inside
 * the sandbox) leaves nothing written, and the next attempt scores the same checkpoint again with
 * the same result. A run whose best epoch was validated on crops (the spec's validation budget)
 * has its checkpoint score the whole validation volumes too, with validation's prediction settings,
 * recorded in the same write. Nothing to do when neither applies, or when this best epoch was
 * scored already.
 */
export async function scoreTestVolumes(
  ctx: JobContext,
  control: RunControl,
  job: Job,
  run: { fence: ExperimentFence; spec: ExperimentSpec; volumes: VolumeRef[] },
): Promise<void> {
  const { fence, spec } = run;
  const { experimentId } = fence;
  const tests = run.volumes.filter((v) => v.labelKey && isTestRole(v.role)).sort((a, b) => a.name.localeCompare(b.name));
  const row = await infra(ctx, control, () => ctx.db.experiment.findUniqueOrThrow({ where: { id: experimentId }, select: { bestEpoch: true, testScoredEpoch: true, validationCrops: true } }));
  const wholeValidation = row.validationCrops ? validationVolumesOf(run.volumes, spec) : [];
  if (!tests.length && !wholeValidation.length) return;
  if (row.bestEpoch === null || row.testScoredEpoch === row.bestEpoch) return;
  const epoch = row.bestEpoch;
  const checkpoint = await infra(ctx, control, () => ctx.db.checkpoint.findUnique({ where: { experimentId_epoch: { experimentId, epoch } } }));
  if (!checkpoint) throw new Error(`experiment ${experimentId}: the best epoch ${epoch} has no checkpoint row`);
  const bytes = await infra(ctx, control, () => getObject(checkpoint.s3Key));
  if (!bytes || sha256(bytes) !== checkpoint.sha256) throw new Error(`checkpoint ${checkpoint.s3Key} is missing or does not match its sha256`);

  const scoreAll = (options: PredictionOptions, volumes: VolumeRef[]) => scoreInSandbox(ctx, control, job, { experimentId, epoch, spec, options, checkpoint: bytes, volumes });
  const scores = tests.length ? await scoreAll(optionsValidator.parse(spec.predict ?? {}), tests) : [];
  const t: TestScores = testScoresOf(epoch, scores);
  if (wholeValidation.length) t.wholeValidationScore = wholeValidationScoreOf(await scoreAll(validationPredictOptions(spec), wholeValidation));
  const scored = await infra(ctx, control, () => ctx.experiments.recordTestScores(fence, t));
  ctx.log.info({ experimentId, epoch, volumes: scores.length, wholeValidationScore: t.wholeValidationScore, scoreSource: scored.scoreSource }, 'test volumes scored');
  await bestEffort(() => ctx.events.publish(experimentId, { type: 'scored', epoch, score: scored.score, scoreSource: scored.scoreSource as ScoreSource }));
}

/** The volumes the run validated on: its validation volumes, or its training volumes when it has none. */
function validationVolumesOf(volumes: VolumeRef[], spec: ExperimentSpec): VolumeRef[] {
  const { trainRefs, validationRefs } = splitVolumes(volumes, spec.validationVolumes);
  return validationRefs.length ? validationRefs : trainRefs;
}

/** Predicts and scores volumes with a checkpoint in a sandbox, publishing scoring progress. */
async function scoreInSandbox(
  ctx: JobContext,
  control: RunControl,
  job: Job,
  o: { experimentId: string; epoch: number; spec: ExperimentSpec; options: PredictionOptions; checkpoint: Uint8Array; volumes: VolumeRef[] },
): Promise<VolumeScore[]> {
  const { experimentId, epoch } = o;
  let scores: VolumeScore[] | undefined;
  let lastEvent = 0;
  const outcome = await runSandbox(
    { type: 'score', spec: o.spec, options: o.options, checkpoint: o.checkpoint, volumes: o.volumes },
    async (m) => {
      if (m.type === 'scored') scores = m.scores;
      if (m.type !== 'score-progress') return;
      const now = performance.now();
      if (m.slice < m.slices && now - lastEvent < PROGRESS_EVERY_MS) return;
      lastEvent = now;
      const { type: _t, ...p } = m;
      await bestEffort(() => ctx.events.publish(experimentId, { type: 'scoring', epoch, ...p }));
      await bestEffort(() => job.updateProgress({ phase: 'scoring', epoch, ...p }));
    },
    control.signal,
    () => control.stopped(),
  );
  if (!outcome.ok) throw outcome.error;
  if (!scores) throw new Error(`experiment ${experimentId}: the scoring sandbox finished without scores`);
  return scores;
}
