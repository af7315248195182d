import { existsSync } from 'node:fs';
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type { ExperimentSpec } from '@capillary/contracts';
import { selectBackend } from '../backend.ts';
import { decodeCheckpoint } from '../checkpoint.ts';
import { checkpointParams as params, runTubes, tubeSpec } from '../testing/training.ts';
import { onednnCalls } from './kernels.ts';
import { SegmentationModel, type ModelConfig } from '../models/unet.ts';
import { Adam } from '../optimizer.ts';
import { trainStep } from '../step.ts';

const hasOnednn = existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && process.env.CAPILLARY_ONEDNN !== '0';
// 6 base filters: channel counts (6, 12) that are not multiples of oneDNN's 8/16 blocks.
const spec = (over: Partial<ExperimentSpec> = {}) => tubeSpec({ baseFilters: 6, ...over });
const run = (s: ExperimentSpec, resume?: Uint8Array) => runTubes(s, resume);

describe.runIf(hasOnednn)('train on onednn', () => {
  beforeAll(async () => {
    expect(await selectBackend('onednn', 2)).toBe('onednn');
  });

  it('learns tubes with native convolutions, and leaves no tensors', async () => {
    const before = tf.memory().numTensors;
    const nativeBefore = onednnCalls.native.get('Conv2DBackpropFilter') ?? 0;
    const { reports, losses, checkpoints } = await run(spec());
    const first = losses.slice(0, 6).reduce((a, b) => a + b) / 6;
    const last = losses.slice(-6).reduce((a, b) => a + b) / 6;
    expect(last).toBeLessThan(first * 0.8);
    expect(reports[2].dice!).toBeGreaterThan(0.4);
    expect(onednnCalls.native.get('Conv2DBackpropFilter')! - nativeBefore).toBeGreaterThanOrEqual(36 * 4);
    expect(decodeCheckpoint(checkpoints[0]).header.backend).toBe('onednn');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resuming from an epoch checkpoint continues bit for bit', async () => {
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
});

describe.runIf(hasOnednn)('models on onednn', () => {
  const base: ModelConfig = { model: 'unet', encoder: 'plain', inChannels: 1, baseFilters: 5, depth: 3, normalization: 'batch', dropout: 0, seed: 7 };
  const variants: Array<Partial<ModelConfig>> = [
    {},
    { model: 'attention-unet' },
    { model: 'unet25d', inChannels: 3, encoder: 'resnext50', baseFilters: 4 },
    { model: 'attention-unet', normalization: 'none', dropout: 0.2 },
  ];
  /** Losses of 4 steps and the final prediction, from the same seed and batch. */
  async function fit(backend: string, cfg: ModelConfig) {
    await selectBackend(backend as never, 2);
    const before = tf.memory().numTensors;
    const model = new SegmentationModel(cfg);
    const adam = new Adam(model.params.trainable());
    const k = cfg.inChannels;
    const [x, y] = tf.tidy(() => {
      const x = tf.add(tf.mul(tf.sin(tf.mul(tf.range(0, 2 * 16 * 16 * k), 0.37)), 0.5), 0.5).reshape([2, 16, 16, k]) as tf.Tensor4D;
      return [x, tf.cast(tf.greater(tf.slice(x, [0, 0, 0, (k - 1) / 2], [2, 16, 16, 1]), 0.7), 'float32') as tf.Tensor4D];
    });
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) losses.push(await trainStep(model, adam, x, y, { loss: 'bce-dice', learningRate: 0.01, dropoutSeed: i }));
    const p = model.predict(x);
    const prediction = (await p.data()) as Float32Array;
    tf.dispose([x, y, p]);
    adam.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    return { losses, prediction };
  }
  for (const v of variants) {
    const cfg = { ...base, ...v };
    it(`${cfg.model}/${cfg.encoder} (norm ${cfg.normalization}) trains as on wasm`, async () => {
      const ref = await fit('wasm', cfg);
      const got = await fit('onednn', cfg);
      got.losses.forEach((l, i) => expect(Math.abs(l - ref.losses[i])).toBeLessThan(2e-3 * Math.abs(ref.losses[i])));
      let err = 0;
      for (let i = 0; i < ref.prediction.length; i++) err = Math.max(err, Math.abs(got.prediction[i] - ref.prediction[i]));
      expect(err).toBeLessThan(1e-2);
    });
  }
});
