/**
 * The training loop: epochs of sampled batches, Adam with warm-up and cosine decay, validation
 * after every epoch (every `validation.every`; on fixed crops past the validation budget), a
 * checkpoint handed to the caller, best-epoch tracking and early stopping.
 * Resuming from a checkpoint continues the exact same run (weights, optimiser, sampler position).
 */
import * as tf from '@tensorflow/tfjs-core';
import { epochScore, isBetterEpoch, issueText, specRuleIssues, validatesEpoch, type EpochReport, type EpochScores, type ExperimentSpec } from '@capillary/contracts';
import { TileSampler, type VolumeReader } from '@capillary/volumes';
import { selectBackend } from './backend.ts';
import { decodeCheckpoint, encodeCheckpoint, CheckpointError } from './checkpoint.ts';
import { AbortError, SpecError } from './errors.ts';
import { trainStep } from './step.ts';
import { SegmentationModel, modelConfigFromSpec, type ModelConfig } from './models/unet.ts';
import { Adam, learningRateAt } from './optimizer.ts';
import { planValidation, validate, type ValidationScores } from './validate.ts';

// The epoch report crosses the sandbox's IPC, so its shape lives in contracts.
export type { EpochReport };

export interface TrainProgress {
  epoch: number;
  /** 1-based step within the epoch. */
  step: number;
  steps: number;
  loss: number;
}

export interface TrainOptions {
  spec: ExperimentSpec;
  train: VolumeReader[];
  validation: VolumeReader[];
  /** Checkpoint bytes from an earlier `onEpoch`: training continues with the following epoch. */
  resume?: Uint8Array;
  /**
   * Ends the run after this epoch (an ASHA rung) as if paused: the schedule is still that of
   * `spec.epochs`, so resuming from its checkpoint equals a run that never stopped.
   */
  stopAfterEpoch?: number;
  /**
   * The checkpoint is another run's, taken over under a perturbed spec (population-based training):
   * its augmentation probability may differ from this spec's. The learning rate needs no leave:
   * the schedule is computed from this spec's lr at every step, so it follows the new one.
   */
  retuned?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  onEpoch: (report: EpochReport, checkpoint: Uint8Array) => Promise<void>;
}

export interface TrainResult {
  epochsRun: number;
  bestEpoch: number | null;
  bestSurfaceDice: number | null;
  stoppedEarly: boolean;
}

interface TrainState {
  bestEpoch: number | null;
  bestScore: number | null;
  bestSurfaceDice: number | null;
  epochsWithoutImprovement: number;
}

/** A best score already reduced by the rule, as the rule's input again. */
const scoreOnly = (score: number): EpochScores => ({ surfaceDice: score, dice: null });

const sameConfig = (a: ModelConfig, b: ModelConfig) => JSON.stringify(a) === JSON.stringify(b);

/** The API's rules, checked again here: a spec may also come from a bench, a script or an old queue entry. */
function checkSpec(spec: ExperimentSpec): void {
  const issues = specRuleIssues(spec);
  if (issues.length) throw new SpecError(issues.map(issueText).join('; '));
}

/** Stable per-step dropout seed. */
const dropoutSeed = (seed: number, step: number) => (Math.imul(seed ^ 0x9e3779b9, 31) + step * 2654435761) >>> 1;

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { spec, signal } = options;
  checkSpec(spec);
  if (!tf.engine().backendName) await selectBackend('auto');
  const config = modelConfigFromSpec(spec);
  const model = new SegmentationModel(config);
  const trainable = model.params.trainable();
  const adam = new Adam(trainable);
  const sampler = new TileSampler({
    volumes: options.train,
    tileSize: spec.tileSize,
    slices: spec.slices,
    axes: spec.axes,
    batchSize: spec.batchSize,
    augmentationP: spec.augmentationP,
    seed: spec.seed,
    // Only options a spec sets: the sampler fingerprints the rest at their defaults.
    ...(spec.outputSlices !== undefined ? { outputSlices: spec.outputSlices } : {}),
    ...(spec.rotation3dP !== undefined ? { rotation3dP: spec.rotation3dP } : {}),
    ...(spec.rotation3dMaxDegrees !== undefined ? { rotation3dMaxDegrees: spec.rotation3dMaxDegrees } : {}),
    ...(spec.scaleRange !== undefined ? { scaleRange: spec.scaleRange } : {}),
  });
  const state: TrainState = { bestEpoch: null, bestScore: null, bestSurfaceDice: null, epochsWithoutImprovement: 0 };
  let firstEpoch = 1;
  try {
    if (options.resume) {
      const ck = decodeCheckpoint(options.resume);
      if (!sameConfig(ck.header.model, config)) throw new CheckpointError('checkpoint was made for a different network than this spec builds');
      if (!ck.header.training) throw new CheckpointError('checkpoint has no training state (inference-only); cannot resume from it');
      loadTensors(model, adam, ck);
      adam.step = ck.header.step;
      sampler.setState(ck.header.training.samplerState, options.retuned ? ['augmentationP'] : []);
      Object.assign(state, {
        bestEpoch: ck.header.training.bestEpoch,
        bestScore: ck.header.training.bestScore,
        bestSurfaceDice: (ck.header.training as { bestSurfaceDice?: number | null }).bestSurfaceDice ?? null,
        epochsWithoutImprovement: ck.header.training.epochsWithoutImprovement,
      });
      firstEpoch = ck.header.epoch + 1;
    }
    const schedule = { peak: spec.lr, warmupSteps: spec.warmupEpochs * spec.stepsPerEpoch, totalSteps: spec.epochs * spec.stepsPerEpoch };
    let epochsRun = 0;
    const lastEpoch = Math.min(spec.epochs, options.stopAfterEpoch ?? spec.epochs);
    // Chosen once from the seed: every epoch (and a resumed attempt) validates on the same crops.
    const plan = await planValidation(spec, options.validation);
    for (let epoch = firstEpoch; epoch <= lastEpoch; epoch++) {
      const t0 = performance.now();
      let lossSum = 0;
      let lr = 0;
      for (let step = 1; step <= spec.stepsPerEpoch; step++) {
        if (signal?.aborted) throw new AbortError(`training aborted in epoch ${epoch}`);
        const batch = await sampler.next();
        lr = learningRateAt(adam.step, schedule);
        const seed = dropoutSeed(spec.seed, adam.step);
        const x = tf.tensor4d(batch.x, batch.shape);
        const y = tf.tensor4d(batch.y, [batch.shape[0], batch.shape[1], batch.shape[2], batch.labelChannels]);
        let loss: number;
        try {
          loss = await trainStep(model, adam, x, y, { loss: spec.loss, learningRate: lr, dropoutSeed: seed });
        } finally {
          tf.dispose([x, y]);
        }
        if (!Number.isFinite(loss)) throw new Error(`training diverged: loss is ${loss} at epoch ${epoch} step ${step}; lower the learning rate`);
        lossSum += loss;
        options.onProgress?.({ epoch, step, steps: spec.stepsPerEpoch, loss });
      }
      if (signal?.aborted) throw new AbortError(`training aborted after epoch ${epoch}'s steps`);
      const tv = performance.now();
      const validating = validatesEpoch(plan.every, epoch, lastEpoch);
      const scores: ValidationScores = validating
        ? await validate(model, options.validation, { slices: spec.slices, tileSize: spec.tileSize, threshold: spec.threshold, tta: spec.predict?.tta, signal, crops: plan.crops })
        : { loss: null, dice: null, surfaceDice: null, scope: 'whole', crops: 0, voxelsPredicted: 0 };
      const validationMs = performance.now() - tv;
      // The one best-epoch rule (contracts best-epoch.ts), shared with the registry's best checkpoint.
      const score = epochScore(scores);
      const isBest = isBetterEpoch(scores, state.bestScore === null ? null : scoreOnly(state.bestScore));
      if (isBest) {
        state.bestEpoch = epoch;
        state.bestScore = score;
        state.bestSurfaceDice = scores.surfaceDice;
        state.epochsWithoutImprovement = 0;
      } else if (score !== null) state.epochsWithoutImprovement++;
      const report: EpochReport = {
        epoch,
        trainLoss: lossSum / spec.stepsPerEpoch,
        valLoss: scores.loss,
        dice: scores.dice,
        surfaceDice: scores.surfaceDice,
        learningRate: lr,
        durationMs: performance.now() - t0,
        validationScope: validating ? scores.scope : null,
        validationCrops: scores.crops,
        validationMs,
        validationVoxels: scores.voxelsPredicted,
        isBest,
      };
      const checkpoint = await saveCheckpoint(model, adam, epoch, { samplerState: sampler.getState(), spec, ...state });
      await options.onEpoch(report, checkpoint);
      epochsRun++;
      if (spec.earlyStopPatience && state.epochsWithoutImprovement >= spec.earlyStopPatience && epoch < spec.epochs) {
        return { epochsRun, bestEpoch: state.bestEpoch, bestSurfaceDice: state.bestSurfaceDice, stoppedEarly: true };
      }
    }
    return { epochsRun, bestEpoch: state.bestEpoch, bestSurfaceDice: state.bestSurfaceDice, stoppedEarly: false };
  } finally {
    sampler.close();
    adam.dispose();
    model.dispose();
  }
}

function loadTensors(model: SegmentationModel, adam: Adam | undefined, ck: ReturnType<typeof decodeCheckpoint>): void {
  const put = (v: tf.Variable, key: string) => {
    const t = ck.tensor(key);
    if (!t) throw new CheckpointError(`checkpoint lacks tensor ${key}`);
    if (t.shape.join('x') !== v.shape.join('x')) throw new CheckpointError(`tensor ${key} has shape ${t.shape.join('x')}, model needs ${v.shape.join('x')}`);
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
  };
  for (const [name, v] of model.params.entries()) put(v, `param/${name}`);
  if (adam) {
    for (const [name, m] of adam.m) put(m, `adam.m/${name}`);
    for (const [name, v] of adam.v) put(v, `adam.v/${name}`);
  }
}

async function saveCheckpoint(model: SegmentationModel, adam: Adam, epoch: number, training: Record<string, unknown>): Promise<Uint8Array> {
  const tensors: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
  const add = async (name: string, v: tf.Variable) => tensors.push({ name, shape: v.shape, data: (await v.data()) as Float32Array });
  for (const [name, v] of model.params.entries()) await add(`param/${name}`, v);
  for (const [name, m] of adam.m) await add(`adam.m/${name}`, m);
  for (const [name, v] of adam.v) await add(`adam.v/${name}`, v);
  return encodeCheckpoint(
    { model: model.config, epoch, step: adam.step, backend: tf.getBackend(), training: training as never },
    tensors,
  );
}

/** Rebuilds a network (inference mode) from checkpoint bytes. */
export function loadModelFromCheckpoint(bytes: Uint8Array): SegmentationModel {
  const ck = decodeCheckpoint(bytes);
  const model = new SegmentationModel(ck.header.model);
  try {
    loadTensors(model, undefined, ck);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
