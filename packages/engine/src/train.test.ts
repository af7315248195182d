import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './backend.ts';
import { decodeCheckpoint } from './checkpoint.ts';
import { loadModelFromCheckpoint, train } from './train.ts';
import { checkpointParams as params, runTubes as run, tubeSpec as spec, tubeTrain } from './testing/training.ts';

describe('train on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm', 2);
  });

  it('learns tubes: loss goes down, Dice above chance, no tensor leaks', async () => {
    const before = tf.memory().numTensors;
    const { result, reports, losses } = await run(spec());
    expect(result.epochsRun).toBe(3);
    expect(reports.map((r) => r.epoch)).toEqual([1, 2, 3]);
    const first = losses.slice(0, 6).reduce((a, b) => a + b) / 6;
    const last = losses.slice(-6).reduce((a, b) => a + b) / 6;
    expect(last).toBeLessThan(first * 0.8);
    // Chance Dice for ~5% foreground is ~0.05-0.1.
    expect(reports[2].dice!).toBeGreaterThan(0.4);
    expect(reports[2].surfaceDice).not.toBeNull();
    expect(result.bestEpoch).not.toBeNull();
    expect(reports.filter((r) => r.isBest).length).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resuming from an epoch checkpoint continues exactly', async () => {
    const s = spec({ epochs: 2, stepsPerEpoch: 4, dropout: 0.1 });
    const full = await run(s);
    const resumed = await run(s, full.checkpoints[0]);
    expect(resumed.reports.map((r) => r.epoch)).toEqual([2]);
    const a = params(full.checkpoints[1]);
    const b = params(resumed.checkpoints[0]);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    expect(resumed.reports[0].trainLoss).toBe(full.reports[1].trainLoss);
  });

  it('a PBT copy resumes another run\'s checkpoint under a perturbed lr and augmentationP only when retuned, on the new lr\'s schedule', async () => {
    const donor = spec({ epochs: 2, stepsPerEpoch: 4, lr: 0.01, augmentationP: 0.2 });
    const perturbed = { ...donor, lr: 0.012, augmentationP: 0.24 };
    const { checkpoints } = await run(donor, undefined, 1);
    await expect(run(perturbed, checkpoints[0])).rejects.toThrow(/sampler state/);
    const copy = await run(perturbed, checkpoints[0], undefined, true);
    expect(copy.reports.map((r) => r.epoch)).toEqual([2]);
    // The same step of the perturbed spec's own schedule: the cosine follows the new lr.
    const fresh = await run(perturbed);
    expect(copy.reports[0].learningRate).toBe(fresh.reports[1].learningRate);
    expect(copy.reports[0].learningRate).not.toBe((await run(donor, checkpoints[0])).reports[0].learningRate);
  });

  it('an ASHA trial paused at its rungs and resumed twice is bit-identical to an uninterrupted run', async () => {
    // Rungs at epochs 1 and 2 of 3: the cosine schedule is the one of all 3 epochs in every leg.
    const s = spec({ epochs: 3, stepsPerEpoch: 3 });
    const full = await run(s);
    const leg1 = await run(s, undefined, 1);
    expect(leg1.result.epochsRun).toBe(1);
    const leg2 = await run(s, leg1.checkpoints[0], 2);
    const leg3 = await run(s, leg2.checkpoints[0]);
    const legs = [...leg1.reports, ...leg2.reports, ...leg3.reports];
    expect(legs.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(legs.map((r) => r.learningRate)).toEqual(full.reports.map((r) => r.learningRate));
    expect(legs.map((r) => [r.trainLoss, r.surfaceDice])).toEqual(full.reports.map((r) => [r.trainLoss, r.surfaceDice]));
    expect(Buffer.from(leg3.checkpoints[0]).equals(Buffer.from(full.checkpoints[2]))).toBe(true);
    // A leg trained with the rung as its whole length would differ: the schedule is what keeps it exact.
    const short = await run(spec({ epochs: 1, stepsPerEpoch: 3 }));
    expect(short.reports[0].learningRate).not.toBe(full.reports[0].learningRate);
  });

  it('the winners\' tricks resume exactly too: 3 in / 3 out, soft surface Dice in the loss, 3D rotation, attention on ResNet', async () => {
    const s = spec({
      epochs: 2, stepsPerEpoch: 2, model: 'attention-unet', encoder: 'resnet', slices: 3, outputSlices: 3,
      loss: { focal: 1, dice: 1, boundary: 0.01, surfaceDice: 1 }, rotation3dP: 0.5, scaleRange: [0.9, 1.2],
    });
    const full = await run(s);
    expect(decodeCheckpoint(full.checkpoints[0]).header.model.outChannels).toBe(3);
    const resumed = await run(s, full.checkpoints[0]);
    const a = params(full.checkpoints[1]);
    const b = params(resumed.checkpoints[0]);
    for (const [k, v] of a) expect(Buffer.from(b.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    expect(resumed.reports[0].trainLoss).toBe(full.reports[1].trainLoss);
    expect(full.reports.every((r) => r.dice !== null && Number.isFinite(r.trainLoss))).toBe(true);
    // A 1-out spec stores no outChannels: its checkpoints are what they were before k out existed.
    expect('outChannels' in decodeCheckpoint((await run(spec({ epochs: 1, stepsPerEpoch: 1 }))).checkpoints[0]).header.model).toBe(false);
    // Another k out is another network: its checkpoint does not resume this one.
    await expect(run({ ...s, outputSlices: 1 }, full.checkpoints[0])).rejects.toThrow(/different network/);
  });

  it('aborts promptly with an AbortError', async () => {
    const ac = new AbortController();
    let steps = 0;
    const p = train({
      spec: spec({ epochs: 5 }),
      train: [tubeTrain],
      validation: [],
      signal: ac.signal,
      onProgress: () => {
        if (++steps === 3) ac.abort();
      },
      onEpoch: async () => undefined,
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toBe(3);
  });

  it('stops early after earlyStopPatience epochs without a better validation score', async () => {
    // A learning rate this small leaves predictions (and so the score) unchanged from epoch 1.
    const { result, reports } = await run(spec({ epochs: 4, stepsPerEpoch: 1, lr: 1e-9, normalization: 'none', earlyStopPatience: 1 }));
    expect(result).toMatchObject({ stoppedEarly: true, epochsRun: 2, bestEpoch: 1 });
    expect(reports.map((r) => r.isBest)).toEqual([true, false]);
  });

  it('refuses specs it cannot train, naming the field', async () => {
    await expect(run(spec({ slices: 2 }))).rejects.toMatchObject({ name: 'SpecError', message: expect.stringMatching(/slices must be odd/) });
    await expect(run(spec({ tileSize: 48, depth: 6 }))).rejects.toThrow(/tileSize 48 must be divisible by 32/);
  });

  it('loads a model from a checkpoint for inference', async () => {
    const { checkpoints } = await run(spec({ epochs: 1, stepsPerEpoch: 2 }));
    const model = loadModelFromCheckpoint(checkpoints[0]);
    const y = model.predict(tf.zeros([1, 32, 32, 1]));
    expect(y.shape).toEqual([1, 32, 32, 1]);
    y.dispose();
    model.dispose();
  });
});

describe('train on cpu', () => {
  it('runs an epoch on the pure-JS backend and leaves no tensors', async () => {
    await selectBackend('cpu');
    const before = tf.memory().numTensors;
    const { result, reports, losses } = await run(spec({ epochs: 1, stepsPerEpoch: 3 }));
    expect(result.epochsRun).toBe(1);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(reports[0].dice).not.toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    await selectBackend('wasm', 2);
  });
});
